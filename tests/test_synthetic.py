"""Tests of the synthetic UCF-101-format generator: format, read-back, determinism, design."""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from absl import flags

from preprocessing import synthetic, ucf101
from preprocessing.layout import Layout
from tfrecords.errors import UserError
from tfrecords.schema import FLOW_BOUND, quantize_flow

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _clip_path(root: str, *parts: str) -> pathlib.Path:
    return pathlib.Path(root).joinpath(*parts)


def _read_jpegs(folder: pathlib.Path, flags_: int) -> np.ndarray:
    files = sorted(folder.glob("frame*.jpg"))
    return np.stack([cv2.imread(str(f), flags_) for f in files])


# ---------------------------------------------------------------- spec, names, groups


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_appearances", 0),
        ("num_appearances", 9),
        ("num_motions", 0),
        ("groups", 2),
        ("clips_per_group", 0),
        ("num_frames", (1, 5)),
        ("num_frames", (9, 8)),
        ("num_frames", (5,)),
        ("layout", ("frames", "tvl1")),
        ("layout", ()),
        ("seed", -1),
        ("groups", 3.0),
    ],
)
def test_spec_rejects_bad_field_by_name(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        synthetic.SyntheticSpec(**{field: value})


def test_spec_rejects_a_single_class():
    with pytest.raises(ValueError, match="num_appearances \\* num_motions"):
        synthetic.SyntheticSpec(num_appearances=1, num_motions=1)


def test_class_names_look_like_ucf_classes_in_appearance_major_order():
    spec = synthetic.SyntheticSpec(num_appearances=8, num_motions=8)
    names = synthetic.class_names(spec)
    assert len(set(names)) == 64
    assert all(re.fullmatch(r"[A-Z][a-z]+[A-Z][a-z]+", n) for n in names), names
    assert names[:3] == ["BeachRise", "BeachFall", "BeachSpin"]
    clips = synthetic.plan(synthetic.SyntheticSpec(num_appearances=2, num_motions=3, groups=3))
    for clip in clips:
        assert clip.label == clip.appearance * 3 + clip.motion
        assert clip.class_name == synthetic.class_names(synthetic.SyntheticSpec(2, 3))[clip.label]


def test_test_groups_scale_ucf101_pattern():
    assert [list(synthetic.split_test_groups(25, k)) for k in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]
    assert [list(synthetic.split_test_groups(7, k)) for k in (1, 2, 3)] == [[1, 2], [3, 4], [5, 6]]
    for groups in range(3, 40):
        tests = [set(synthetic.split_test_groups(groups, k)) for k in (1, 2, 3)]
        assert all(tests), groups
        assert not (tests[0] & tests[1] or tests[1] & tests[2] or tests[0] & tests[2])
        assert max(tests[2]) <= groups


def test_lengths_are_in_range_and_some_clips_need_looping(synthetic_spec):
    lengths = np.array([c.num_frames for c in synthetic.plan(synthetic_spec)])
    low, high = synthetic_spec.num_frames
    assert lengths.min() >= low and lengths.max() <= high
    assert (lengths < 11).any() and (lengths >= 11).any()  # 11 RGB frames = one 10-flow stack
    defaults = synthetic.SyntheticSpec(groups=25, clips_per_group=5)
    default_lengths = np.array([c.num_frames for c in synthetic.plan(defaults)])
    assert 0.05 < np.mean(default_lengths < 11) < 0.3


# ---------------------------------------------------------------- the generated tree


def test_lists_are_in_the_official_format(synthetic_root, synthetic_spec):
    splits_dir = _clip_path(synthetic_root, "ucfTrainTestlist")
    clips = synthetic.plan(synthetic_spec)
    names = synthetic.class_names(synthetic_spec)
    class_ind = (splits_dir / "classInd.txt").read_bytes()
    assert class_ind == b"1 BeachRise\r\n2 BeachFall\r\n3 ForestRise\r\n4 ForestFall\r\n"
    assert ucf101.read_class_index(str(splits_dir)) == names
    for split in (1, 2, 3):
        test_groups = set(synthetic.split_test_groups(synthetic_spec.groups, split))
        assert test_groups == {split}
        for subset in ("train", "test"):
            raw = (splits_dir / f"{subset}list{split:02d}.txt").read_bytes()
            lines = raw.split(b"\r\n")
            assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
            expected = [
                f"{c.class_name}/{c.video_id}.avi"
                + (f" {c.label + 1}" if subset == "train" else "")
                for c in clips
                if (c.group in test_groups) == (subset == "test")
            ]
            assert [line.decode() for line in lines[:-1]] == expected
        summary = ucf101.split_summary(str(splits_dir), split)
        assert summary["groups_disjoint"] and summary["distinct_clips"] == len(clips)


def test_dataset_layer_finds_every_clip_in_every_layout(synthetic_root, synthetic_spec):
    layout = Layout.under(synthetic_root)
    summary = ucf101.summarize(
        str(_clip_path(synthetic_root, "ucfTrainTestlist")), (1, 2, 3), layout
    )
    assert ucf101.summary_ok(summary)
    sources = summary["sources"]
    total = sum(c.num_frames for c in synthetic.plan(synthetic_spec))
    assert sources["listed_clips"] == 24
    for name in ("videos", "frames", "flow"):
        assert (
            sources[name]["present"]
            and sources[name]["found"] == 24
            and not sources[name]["missing"]
        )
    assert sources["frames"]["frames"] == total
    assert sources["flow"]["frames"] == total - 24
    assert not sources["flow"]["count_mismatch"]


def test_videos_read_back_with_opencv(synthetic_root, synthetic_spec):
    for clip in synthetic.plan(synthetic_spec):
        path = _clip_path(synthetic_root, "UCF-101", clip.class_name, f"{clip.video_id}.avi")
        capture = cv2.VideoCapture(str(path))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        assert len(frames) == clip.num_frames, clip.video_id
        assert {f.shape for f in frames} == {(240, 320, 3)}
        # Same picture and channel order as the frames (a BGR/RGB swap would be far off).
        jpeg = cv2.imread(
            str(_clip_path(synthetic_root, "jpegs_256", clip.video_id, "frame000001.jpg"))
        )
        small = cv2.resize(jpeg, (320, 240), interpolation=cv2.INTER_LINEAR).astype(float)
        straight = np.abs(frames[0] - small).mean()
        swapped = np.abs(frames[0][..., ::-1] - small).mean()
        assert straight < 8 and swapped > 2 * straight, (clip.video_id, straight, swapped)


def test_frames_and_flow_decode_to_what_was_rendered(synthetic_root, synthetic_spec):
    clips = synthetic.plan(synthetic_spec)
    for clip in (clips[0], clips[-1]):  # a BeachRise and a ForestFall clip
        rgb, flow = synthetic.render_clip(synthetic_spec, clip)
        frames = _read_jpegs(
            _clip_path(synthetic_root, "jpegs_256", clip.video_id), cv2.IMREAD_COLOR
        )
        assert frames.shape == (clip.num_frames, 256, 340, 3)
        assert np.abs(frames[..., ::-1].astype(float) - rgb).mean() < 4.0  # BGR on disk; q95
        truth = quantize_flow(flow).astype(float)
        for axis, folder in enumerate("uv"):
            decoded = _read_jpegs(
                _clip_path(synthetic_root, "tvl1_flow", folder, clip.video_id), cv2.IMREAD_GRAYSCALE
            ).astype(float)
            assert decoded.shape == (clip.num_frames - 1, 256, 340)
            error = np.abs(decoded - truth[..., axis])
            # JPEG rings only at the silhouette's step edges (1 level = 40/255 px).
            assert error.mean() < 0.5, (clip.video_id, folder)
            assert np.percentile(error, 99.9) <= 6 and error.max() <= 16, (clip.video_id, folder)


def test_same_seed_gives_identical_bytes(tmp_path):
    spec = synthetic.SyntheticSpec(
        num_appearances=2,
        num_motions=1,
        groups=3,
        clips_per_group=1,
        num_frames=(3, 5),
        layout=("frames", "flow"),
        seed=7,
    )
    trees = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        root = tmp_path / name
        synthetic.generate(str(root), dataclasses.replace(spec, seed=seed))
        trees[name] = {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
    assert trees["a"] == trees["b"]
    lengths = [c.num_frames for c in synthetic.plan(spec)]
    assert len(trees["a"]) == 7 + sum(3 * n - 2 for n in lengths)  # lists, N RGB, 2(N-1) flow
    shared = [k for k in trees["a"] if k.startswith("jpegs_256") and k in trees["c"]]
    assert shared and all(trees["a"][k] != trees["c"][k] for k in shared)


# ---------------------------------------------------------------- the class design


def _colour_histogram(root: str, clip: synthetic.SyntheticClip) -> np.ndarray:
    """4x4x4 colour histogram of the clip's middle frame (one frame only)."""
    frame = cv2.imread(
        str(
            _clip_path(root, "jpegs_256", clip.video_id, f"frame{clip.num_frames // 2 + 1:06d}.jpg")
        )
    )
    histogram = cv2.calcHist([frame], [0, 1, 2], None, [4, 4, 4], [0, 256] * 3).ravel()
    return histogram / histogram.sum()


def _mean_flow(root: str, clip: synthetic.SyntheticClip) -> np.ndarray:
    """Mean decoded flow (x, y) in px, each frame's median (the camera) subtracted."""
    means = []
    for folder in ("u", "v"):
        flow = _read_jpegs(
            _clip_path(root, "tvl1_flow", folder, clip.video_id), cv2.IMREAD_GRAYSCALE
        )
        flow = flow.astype(float) * (2 * FLOW_BOUND / 255) - FLOW_BOUND
        means.append((flow - np.median(flow, axis=(1, 2), keepdims=True)).mean())
    return np.array(means)


def _nearest_centroid_accuracy(features, factor, groups) -> float:
    """Leave-one-group-out nearest-centroid accuracy of predicting `factor`."""
    correct = 0
    for x, y, g in zip(features, factor, groups, strict=True):
        train = [j for j in range(len(features)) if groups[j] != g]
        centroids = {
            k: np.mean([features[j] for j in train if factor[j] == k], axis=0) for k in set(factor)
        }
        predicted = min(sorted(centroids), key=lambda k: np.linalg.norm(x - centroids[k]))
        correct += predicted == y
    return correct / len(features)


def test_one_frame_tells_appearance_and_flow_tells_motion(synthetic_root, synthetic_spec):
    clips = synthetic.plan(synthetic_spec)
    appearance = [c.appearance for c in clips]
    motion = [c.motion for c in clips]
    groups = [c.group for c in clips]
    colours = [_colour_histogram(synthetic_root, c) for c in clips]
    flows = [_mean_flow(synthetic_root, c) for c in clips]
    # Spatial stand-in: perfect on appearance, chance (1/2) on motion.
    assert _nearest_centroid_accuracy(colours, appearance, groups) == 1.0
    assert _nearest_centroid_accuracy(colours, motion, groups) <= 0.75
    # Temporal stand-in: perfect on motion (Rise: y < 0, Fall: y > 0), chance on appearance.
    assert _nearest_centroid_accuracy(flows, motion, groups) == 1.0
    assert _nearest_centroid_accuracy(flows, appearance, groups) <= 0.75
    assert all((f[1] < 0) == (m == 0) for f, m in zip(flows, motion, strict=True))


def test_flow_is_identical_across_appearances_and_differs_across_motions(synthetic_root):
    def flow_bytes(video_id: str) -> list[bytes]:
        folder = _clip_path(synthetic_root, "tvl1_flow", "v", video_id)
        return [f.read_bytes() for f in sorted(folder.glob("*.jpg"))]

    assert flow_bytes("v_BeachRise_g02_c01") == flow_bytes("v_ForestRise_g02_c01")
    assert flow_bytes("v_BeachRise_g02_c01") != flow_bytes("v_BeachFall_g02_c01")


# ---------------------------------------------------------------- the binary


def _flag_values(*args: str) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    synthetic.define_flags(flag_values)
    flag_values(["synthetic", "--output_dir=/tmp/x", *args])
    return flag_values


def test_flags_build_the_spec():
    spec = synthetic.spec_from_flags(
        _flag_values("--num_appearances=2", "--num_frames=4,9", "--layout=frames", "--seed=3")
    )
    assert spec == synthetic.SyntheticSpec(
        num_appearances=2, num_frames=(4, 9), layout=("frames",), seed=3
    )
    assert synthetic.spec_from_flags(_flag_values()) == synthetic.SyntheticSpec()


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--num_frames=a,b", "--num_frames"),
        ("--layout=frames,jpeg", "layout"),
        ("--groups=2", "groups"),
    ],
)
def test_bad_flags_are_user_errors_naming_the_flag(arg, message):
    with pytest.raises(UserError, match=message):
        synthetic.spec_from_flags(_flag_values(arg))


@pytest.mark.slow
def test_cli_writes_a_tree_the_dataset_summary_accepts(tmp_path):
    generated = subprocess.run(
        [
            sys.executable, "-m", "preprocessing.synthetic", f"--output_dir={tmp_path}",
            "--num_appearances=2", "--num_motions=1", "--groups=3", "--clips_per_group=1",
            "--num_frames=3,5",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    summary = subprocess.run(
        [
            sys.executable, "-m", "preprocessing.ucf101",
            f"--splits_dir={tmp_path}/ucfTrainTestlist", f"--root={tmp_path}",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stdout + summary.stderr
    sources = json.loads(summary.stdout)["sources"]
    assert all(sources[name]["found"] == 6 for name in ("videos", "frames", "flow"))
