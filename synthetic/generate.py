"""Small synthetic datasets in exactly UCF-101's on-disk format, built to need both streams.

    python -m synthetic --output_dir=DIR [--num_appearances=3 --num_motions=3
        --groups=7 --clips_per_group=3 --num_frames=8,64 --layout=videos,frames,flow --seed=0]

writes under DIR (any subset of the three layouts)::

    ucfTrainTestlist/classInd.txt, trainlist01..03.txt, testlist01..03.txt   (CRLF, official)
    UCF-101/<Class>/v_<Class>_gGG_cCC.avi           320x240, 25 fps, XVID
    jpegs_256/v_<Class>_gGG_cCC/frame000001.jpg     340x256 RGB, N frames
    tvl1_flow/{u,v}/v_<Class>_gGG_cCC/frame000001.jpg   340x256 grayscale, N - 1 frames

The defaults (9 classes, 189 clips, ~4,400 RGB frames, 190 MB) take ~45 s of one core, single
process; a JPEG-only tree (`--layout=frames,flow`) saves the video encoding.

Test groups of split k are the k-th third of UCF-101's g01-07 / g08-14 / g15-21 pattern
scaled to G groups (G = 7: g01-02 / g03-04 / g05-06); train gets the other groups.

The flow is NOT computed by TV-L1: it is the exact ground-truth motion the generator rendered,
clipped to [-20, 20] px and quantized as the public archives (`tfrecords.schema.quantize_flow`).
TV-L1 or DIS run on the videos recover it up to their own error (and scaled by 320/340 for the
320x240 videos, which are the 340x256 frames resized).

Class design. Classes are A appearances x M motions, named `<Appearance><Motion>`
(`BeachRise`, label = a * M + m), see `synthetic.render` for the palettes and motions:

* Appearance is what one frame shows: palettes and patterns of the background and of one large
  object. Motion is how the object moves: up, down, spinning, pulsing, sideways, swaying,
  bouncing, slowly sinking (speed alone separates Sink from Fall). The first M and A are used.
* One take per (group, clip): the nuisance (silhouette, size, start position and angle, speed
  factor, period and phase, camera shake, length) is drawn from (seed, group, clip) alone and
  is the same in every class; textures and lighting are drawn from (seed, appearance, group).
  Clip c of group g is the same take in every class, with that class's look and movement.
* So the flow does not reveal the appearance: classes sharing a motion have identical flow,
  byte for byte (v_BeachRise_g01_c01 and v_ForestRise_g01_c01), and the stored flow is the
  exact motion, blind to textures.
* And a single frame does not reveal the motion: the object lives on a torus (it wraps around
  the frame edges) from a uniform start, angle and phase, with no motion blur, so classes
  sharing an appearance show the same object and scene, only at other places.
* Every motion class is closed under horizontal flips (sideways and spin directions are drawn
  per clip; there is no left/right pair of classes), so flip augmentation keeps labels right.
* Groups share a scene (lighting, texture orientation and period, silhouette, size) as UCF
  groups share actor and background; clips of a group vary in speed (x0.8-1.25), size
  (+-10%), start, period, sensor noise (sigma 1-4) and camera shake (up to 2.5 px and about
  2 px/frame, so mean-flow subtraction matters). Lengths are log-uniform in [LO, HI]; with the
  default 8-64 about 15% of clips are shorter than one 10-frame flow stack (11 RGB frames),
  so readers must loop.

Consequence: a perfect spatial stream knows the appearance but not the motion, so it is capped
near 1/M accuracy; a perfect temporal stream knows the motion but not the appearance, capped
at 1/A; averaging their scores peaks on the one class that has both, so fusion can reach
~100%. ("Near": a pulsing object's size swing is a faint single-frame cue.) Measured on the
default dataset (seed 0, split 1: 135 train / 54 test clips) with logistic regressions on a
4x4x4 colour histogram of single frames and on six statistics of 10-frame flow stacks: 33% and
33% class accuracy (100% on appearance, resp. motion), 100% after averaging. Streams that are
overconfident about the factor they cannot see (overfitted to the training groups) lower the
fused accuracy: calibration matters more here than on UCF-101.

Generation is deterministic for a seed: each random stream is keyed by (seed, stream, the
clip's coordinates), so bytes do not depend on the layouts requested or on the order.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import posixpath
import tempfile
from collections.abc import Sequence

import cv2
import numpy as np
import tensorflow as tf

from optical_flow.video_frames import encode_jpeg
from preprocessing import layout as layout_lib
from preprocessing import ucf101
from synthetic.render import APPEARANCES, MOTIONS, Scene, make_scene, make_trajectory, render
from tfrecords.schema import FRAME_RATE, quantize_flow

LAYOUTS = ("videos", "frames", "flow")
VIDEO_SIZE = (320, 240)  # (width, height) of UCF-101's videos
_CRLF = "\r\n"
# Independent random streams (first key after the seed).
_LENGTH, _MOTION, _TEXTURE, _SHAPE, _NOISE = range(5)


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """What to generate; every field is checked on construction (ValueError naming it).

    Attributes:
      num_appearances: A, 1-8 appearances.
      num_motions: M, 1-8 motions (A * M >= 2 classes).
      groups: G >= 3 groups per class (each split needs test groups).
      clips_per_group: C, clips per group.
      num_frames: (LO, HI) RGB frames per clip, 2 <= LO <= HI, log-uniform.
      layout: which of 'videos', 'frames', 'flow' to write.
      seed: non-negative seed.
    """

    num_appearances: int = 3
    num_motions: int = 3
    groups: int = 7
    clips_per_group: int = 3
    num_frames: tuple[int, int] = (8, 64)
    layout: tuple[str, ...] = LAYOUTS
    seed: int = 0

    def __post_init__(self) -> None:
        _check_range("num_appearances", self.num_appearances, 1, len(APPEARANCES))
        _check_range("num_motions", self.num_motions, 1, len(MOTIONS))
        if self.num_appearances * self.num_motions < 2:
            raise ValueError("num_appearances * num_motions must be >= 2 classes, got 1")
        _check_range("groups", self.groups, 3, 99)
        _check_range("clips_per_group", self.clips_per_group, 1, 99)
        if len(self.num_frames) != 2:
            raise ValueError(f"num_frames must be (LO, HI), got {self.num_frames!r}")
        _check_range("num_frames[0] (LO)", self.num_frames[0], 2, 100_000)
        _check_range("num_frames[1] (HI)", self.num_frames[1], self.num_frames[0], 100_000)
        unknown = [name for name in self.layout if name not in LAYOUTS]
        if unknown or not self.layout or len(set(self.layout)) != len(self.layout):
            raise ValueError(
                f"layout must be distinct names among {LAYOUTS}, got {list(self.layout)}"
            )
        _check_range("seed", self.seed, 0, 2**63 - 1)


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field} must be an integer in [{low}, {high}], got {value!r}")


@dataclasses.dataclass(frozen=True)
class SyntheticClip:
    """One generated clip.

    Attributes:
      video_id: canonical id `v_<Class>_gGG_cCC`.
      class_name: `<Appearance><Motion>`, as in classInd.txt.
      label: 0-based class index, `appearance * M + motion`.
      group: 1-based group number.
      clip: 1-based clip number within the group.
      appearance: 0-based appearance index.
      motion: 0-based motion index.
      num_frames: N RGB frames (N - 1 flow frames).
    """

    video_id: str
    class_name: str
    label: int
    group: int
    clip: int
    appearance: int
    motion: int
    num_frames: int


def class_names(spec: SyntheticSpec) -> list[str]:
    """Class names in label order: appearance-major, `<Appearance><Motion>`."""
    return [
        appearance.name + motion.name
        for appearance in APPEARANCES[: spec.num_appearances]
        for motion in MOTIONS[: spec.num_motions]
    ]


def split_test_groups(groups: int, split: int) -> range:
    """Test groups of `split` (1-3): UCF-101's g01-07 / g08-14 / g15-21 scaled to `groups`."""
    bounds = [math.floor(k * 7 * groups / 25 + 0.5) for k in (split - 1, split)]
    return range(bounds[0] + 1, bounds[1] + 1)


def plan(spec: SyntheticSpec) -> list[SyntheticClip]:
    """The clips of `spec` in label, group, clip order, with their drawn lengths."""
    low, high = spec.num_frames
    clips = []
    for label, name in enumerate(class_names(spec)):
        for group in range(1, spec.groups + 1):
            for clip in range(1, spec.clips_per_group + 1):
                rng = np.random.default_rng([spec.seed, _LENGTH, group, clip])
                length = int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
                clips.append(
                    SyntheticClip(
                        video_id=ucf101.canonical_video_id(name, group, clip),
                        class_name=name,
                        label=label,
                        group=group,
                        clip=clip,
                        appearance=label // spec.num_motions,
                        motion=label % spec.num_motions,
                        num_frames=min(high, max(low, length)),
                    )
                )
    return clips


def render_clip(spec: SyntheticSpec, clip: SyntheticClip) -> tuple[np.ndarray, np.ndarray]:
    """Renders one planned clip, deterministic in spec.seed and the clip's coordinates.

    The nuisance (silhouette, size, start, speed factor, phase, camera shake; the length in
    `plan`) is keyed by (group, clip) alone and textures by (appearance, group): clip c of
    group g is the same take in every class, with the class's look and movement. So classes
    sharing a motion have identical flow clip by clip, and nothing but the appearance and the
    motion differs between classes.

    Returns:
      rgb: uint8 [N, 256, 340, 3] RGB frames.
      flow: float32 [N-1, 256, 340, 2] exact motion (x, y) in pixels, frame i -> i+1.
    """
    seed, group = spec.seed, clip.group
    scene = _scene(seed, clip.appearance, group)
    motion_rng = np.random.default_rng([seed, _MOTION, group, clip.clip])
    trajectory = make_trajectory(MOTIONS[clip.motion], clip.num_frames, scene.radius, motion_rng)
    noise_rng = np.random.default_rng([seed, _NOISE, clip.label, group, clip.clip])
    return render(scene, trajectory, noise_rng)


@functools.lru_cache(maxsize=4)  # clips come group by group: each scene is drawn once
def _scene(seed: int, appearance: int, group: int) -> Scene:
    return make_scene(
        APPEARANCES[appearance],
        shape_rng=np.random.default_rng([seed, _SHAPE, group]),
        texture_rng=np.random.default_rng([seed, _TEXTURE, appearance, group]),
    )


def _write_text(path: str, lines: Sequence[str]) -> None:
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write("".join(line + _CRLF for line in lines).encode("ascii"))


def write_lists(
    splits_dir: str, names: Sequence[str], clips: Sequence[SyntheticClip], groups: int
) -> None:
    """Writes classInd.txt and the three train/test list pairs in the official format."""
    tf.io.gfile.makedirs(splits_dir)
    _write_text(
        posixpath.join(splits_dir, ucf101.CLASS_INDEX_FILE),
        [f"{label + 1} {name}" for label, name in enumerate(names)],
    )
    for split in ucf101.SPLITS:
        test = split_test_groups(groups, split)
        entries = [(c, f"{c.class_name}/{c.video_id}.avi") for c in clips]
        train_lines = [f"{entry} {c.label + 1}" for c, entry in entries if c.group not in test]
        test_lines = [entry for c, entry in entries if c.group in test]
        _write_text(ucf101.list_file(splits_dir, split, "train"), train_lines)
        _write_text(ucf101.list_file(splits_dir, split, "test"), test_lines)


def write_video(path: str, rgb: np.ndarray) -> None:
    """Writes uint8 [N, H, W, 3] RGB frames as a 320x240 XVID video at `path` (FRAME_RATE fps).

    The container follows `path`'s extension (.avi, .mp4, .mkv, .mov).

    Raises:
      RuntimeError: OpenCV cannot open an XVID writer (an OpenCV build without FFmpeg).
    """
    with tempfile.TemporaryDirectory() as tmp:
        local = posixpath.join(tmp, "clip" + (posixpath.splitext(path)[1] or ".avi"))
        writer = cv2.VideoWriter(local, cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, VIDEO_SIZE)
        if not writer.isOpened():
            raise RuntimeError(
                f"{path}: OpenCV cannot write XVID video; install opencv-contrib-python-headless "
                "(it bundles FFmpeg) or generate the frames and flow layouts only"
            )
        for frame in rgb:
            small = cv2.resize(frame, VIDEO_SIZE, interpolation=cv2.INTER_LINEAR)
            writer.write(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        writer.release()
        tf.io.gfile.makedirs(posixpath.dirname(path))
        tf.io.gfile.copy(local, path, overwrite=True)


def _write_jpegs(folder: str, images: np.ndarray) -> None:
    """Writes [N, H, W(, 3)] uint8 images (BGR if 3 channels) as the folder's frame files.

    Encoded as the videos source encodes (`optical_flow.video_frames.encode_jpeg`), named as
    the archives name them (`preprocessing.layout.frame_name`).
    """
    tf.io.gfile.makedirs(folder)
    for index, image in enumerate(images, start=1):
        with tf.io.gfile.GFile(posixpath.join(folder, layout_lib.frame_name(index)), "wb") as f:
            f.write(encode_jpeg(image))


def write_frames(folder: str, rgb: np.ndarray) -> None:
    """Writes uint8 [N, H, W, 3] RGB frames as the frame files of `folder` (an RGB frame folder)."""
    _write_jpegs(folder, rgb[..., ::-1])


def write_flow(flow_dir: str, video_id: str, flow: np.ndarray) -> None:
    """Writes float32 [N-1, H, W, 2] flow (px) quantized as flow_dir/{u,v}/video_id/frame*.jpg."""
    quantized = np.stack([quantize_flow(frame) for frame in flow])  # per frame: cache-friendly
    _write_jpegs(posixpath.join(flow_dir, layout_lib.FLOW_X_DIR, video_id), quantized[..., 0])
    _write_jpegs(posixpath.join(flow_dir, layout_lib.FLOW_Y_DIR, video_id), quantized[..., 1])


def generate(output_dir: str, spec: SyntheticSpec) -> list[SyntheticClip]:
    """Writes the lists and every clip in the layouts of `spec` under `output_dir`.

    Returns:
      The generated clips in label, group, clip order.
    """
    names = class_names(spec)
    clips = plan(spec)
    write_lists(posixpath.join(output_dir, ucf101.SPLITS_DIR), names, clips, spec.groups)
    folders = layout_lib.Layout.under(output_dir)
    for clip in clips:
        rgb, flow = render_clip(spec, clip)
        if "videos" in spec.layout:
            path = posixpath.join(folders.videos_dir, clip.class_name, f"{clip.video_id}.avi")
            write_video(path, rgb)
        if "frames" in spec.layout:
            write_frames(posixpath.join(folders.frames_dir, clip.video_id), rgb)
        if "flow" in spec.layout:
            write_flow(folders.flow_dir, clip.video_id, flow)
    return clips
