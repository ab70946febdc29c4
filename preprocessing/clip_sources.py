"""One listed clip's sources on disk -> a `tfrecords.schema.Video` (what one record holds).

Two sources (`SOURCES`):

* `frames`: the pre-extracted archives (`jpegs_256/`, `tvl1_flow/u`, `tvl1_flow/v`). The JPEG
  bytes are stored exactly as read (never re-encoded), after two checks of each file: a
  structural one (`jpeg_shape`: SOI marker, a frame header, EOI marker at the end) that
  catches truncated or overwritten files, then, unless `verify_jpeg_decode` is off
  (`--verify_jpeg_decode`), a full decode (`check_jpeg_decodes`) that catches damaged scan
  data behind intact markers, which libjpeg (and so `tf.io.decode_jpeg` at training time)
  only warns about ("Corrupt JPEG data: ...") while filling the rest of the frame with grey.
  Its cost (`python -m bench.jpeg_check`, one core, libjpeg-turbo through simplejpeg):
  ~0.32 CPU ms per 340x256 RGB frame (~28 KB) and ~0.08-0.10 per flow frame (~4-6 KB), so
  ~20 CPU-minutes for a UCF-101-size job (2.47 M RGB + 4.94 M flow frames). Damage that
  libjpeg decodes without a warning (e.g. a flipped bit that still forms valid Huffman
  codes) is invisible to every decoder: JPEG carries no checksum.
* `videos`: the raw .avi files, decoded and turned into frames and flow by
  `optical_flow.video_frames`, each video at its own size by the archives' rule (short side
  256, aspect ratio kept: `video_frames.archive_frame_size`).

Every problem raises `ClipError`, whose `stage` (`STAGES`) says where the clip failed; the
Beam job reports it in `failures.jsonl` and goes on with the other clips.
"""

from __future__ import annotations

import simplejpeg
import tensorflow as tf

from optical_flow import video_frames
from preprocessing import SOURCES
from preprocessing.dataset import Clip
from preprocessing.errors import DatasetError
from preprocessing.layout import SourceIndex, list_frames
from tfrecords.schema import FRAME_RATE, Video, check_frame_counts

# The manifest's `frame_resize` of the frames source (the videos source's:
# `video_frames.FRAME_RESIZE`).
FRAMES_AS_GIVEN = "as given: the source's JPEGs, stored as read (never resized)"

STAGE_LOCATE = "locate"  # the clip's folder or video is not on disk
STAGE_LIST = "list"  # its frame folder cannot be listed or has a numbering gap
STAGE_READ = "read"  # a file cannot be read
STAGE_JPEG = "jpeg"  # a JPEG is corrupt, or frame sizes differ within the clip
STAGE_DECODE = "decode"  # the video cannot be decoded (unreadable, empty, truncated)
STAGE_FRAME_COUNTS = "frame_counts"  # the N RGB / N-1 flow rule is broken
STAGES = (STAGE_LOCATE, STAGE_LIST, STAGE_READ, STAGE_JPEG, STAGE_DECODE, STAGE_FRAME_COUNTS)

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
# Start-of-frame markers SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_START_OF_SCAN = 0xDA
# Markers without a length field: TEM and RST0-RST7.
_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])
# simplejpeg output colour space per JPEG channel count: the file's own, so the check
# converts as little as it can.
_DECODE_COLORSPACE = {1: "GRAY", 3: "RGB", 4: "CMYK"}


class ClipError(DatasetError):
    """A clip cannot be turned into a record.

    Attributes:
      stage: one of STAGES.
    """

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


def jpeg_shape(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a JPEG's frame header, after a structural check.

    Raises:
      ValueError: no SOI marker at the start, no EOI marker at the end (a truncated file),
        a broken marker sequence, or no frame header before the scan.
    """
    if len(data) < 4 or data[:2] != _SOI:
        raise ValueError("does not start with the JPEG SOI marker (not a JPEG)")
    if data[-2:] != _EOI:
        raise ValueError("does not end with the JPEG EOI marker (truncated)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"broken marker sequence at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 2 + length > len(data):
                raise ValueError(f"frame header at byte {pos} is cut short")
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            if height == 0 or width == 0:
                raise ValueError(f"frame header declares a {width}x{height} image")
            return height, width, data[pos + 9]
        if marker == _START_OF_SCAN:
            break
        pos += 2 + length
    raise ValueError("no frame header (SOF marker) before the image data")


def check_jpeg_decodes(data: bytes, channels: int) -> None:
    """Decodes a whole JPEG (`channels` from `jpeg_shape`), treating libjpeg warnings as errors.

    libjpeg recovers from damaged entropy-coded data with a warning ("Corrupt JPEG data:
    premature end of data segment") and grey blocks; `tf.io.decode_jpeg`, OpenCV and Pillow
    all return such an image. simplejpeg's `strict=True` (TurboJPEG's stop-on-warning) raises
    instead. Cost: see the module docstring.

    Raises:
      ValueError: the decoder's error or warning message.
    """
    colorspace = _DECODE_COLORSPACE.get(channels)
    if colorspace is None:
        raise ValueError(f"{channels} colour channels (expected 1, 3 or 4)")
    try:
        simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True)
    except ValueError as e:
        raise ValueError(f"does not decode cleanly ({e})") from e


def _read(path: str) -> bytes:
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.OpError as e:
        raise ClipError(STAGE_READ, f"{path}: cannot read ({e.message})") from e


def _read_jpegs(
    paths: list[str], what: str, verify_decode: bool
) -> tuple[list[bytes], tuple[int, int]]:
    """Reads JPEG files; returns their bytes and their common (height, width).

    `verify_decode` also decodes each file (`check_jpeg_decodes`), not only its markers;
    `what` ('RGB' or 'flow') names the frames in errors.

    Raises:
      ClipError: a file is unreadable (STAGE_READ), corrupt, or of another size than the
        first (STAGE_JPEG).
    """
    encoded: list[bytes] = []
    size = None
    for path in paths:
        data = _read(path)
        try:
            height, width, channels = jpeg_shape(data)
            if verify_decode:
                check_jpeg_decodes(data, channels)
        except ValueError as e:
            raise ClipError(
                STAGE_JPEG, f"{path}: corrupt JPEG, {e}; re-extract this clip's {what} frames"
            ) from e
        if size is None:
            size = (height, width)
        elif size != (height, width):
            raise ClipError(
                STAGE_JPEG,
                f"{path}: {width}x{height}, but {paths[0]} is {size[1]}x{size[0]}; the {what} "
                "frames of a clip must share one size. Re-extract this clip.",
            )
        encoded.append(data)
    assert size is not None, "callers check frame counts first"
    return encoded, size


def _frame_paths(folder: str | None, clip: Clip, what: str, parent: str) -> list[str]:
    if folder is None:
        raise ClipError(
            STAGE_LOCATE,
            f"{clip.video_id}: no {what} folder in {parent} (looked up case-insensitively); "
            f"extract the clip's {what} frames there, or point it at the folder that holds them",
        )
    try:
        return list_frames(folder)
    except DatasetError as e:
        raise ClipError(STAGE_LIST, str(e)) from e
    except tf.errors.OpError as e:
        raise ClipError(STAGE_LIST, f"{folder}: cannot list ({e.message})") from e


def _check_counts(clip: Clip, num_rgb: int, num_x: int, num_y: int, where: str) -> None:
    try:
        check_frame_counts(num_rgb, num_x, num_y)
    except ValueError as e:
        raise ClipError(STAGE_FRAME_COUNTS, f"{clip.video_id} ({where}): {e}") from e


def read_frame_folders(
    clip: Clip,
    rgb_dir: str | None,
    flow_dirs: tuple[str | None, str | None],
    verify_jpeg_decode: bool,
    parents: tuple[str, str],
) -> dict:
    """Reads a clip's RGB and (x, y) flow frame folders, keeping every JPEG's bytes unchanged.

    `parents` ('frames_dir=...', 'flow_dir=...') say in errors where the folders come from.

    Returns:
      `Video` media fields: rgb, flow_x, flow_y, height, width, flow_height, flow_width.

    Raises:
      ClipError: a folder is missing, a frame is missing or corrupt, or the counts break the
        N / N-1 rule.
    """
    x_dir, y_dir = flow_dirs
    frames_parent, flow_parent = parents
    rgb_paths = _frame_paths(rgb_dir, clip, "RGB", frames_parent)
    x_paths = _frame_paths(x_dir, clip, "x (u) flow", flow_parent)
    y_paths = _frame_paths(y_dir, clip, "y (v) flow", flow_parent)
    where = f"RGB in {rgb_dir}, flow in {x_dir} and {y_dir}"
    _check_counts(clip, len(rgb_paths), len(x_paths), len(y_paths), where)
    rgb, (height, width) = _read_jpegs(rgb_paths, "RGB", verify_jpeg_decode)
    flow_x, flow_size = _read_jpegs(x_paths, "flow", verify_jpeg_decode)
    flow_y, y_size = _read_jpegs(y_paths, "flow", verify_jpeg_decode)
    if y_size != flow_size:
        raise ClipError(
            STAGE_JPEG,
            f"{clip.video_id}: x flow frames are {flow_size[1]}x{flow_size[0]} but y flow frames "
            f"are {y_size[1]}x{y_size[0]}; re-extract this clip's flow",
        )
    return dict(
        rgb=rgb,
        flow_x=flow_x,
        flow_y=flow_y,
        height=height,
        width=width,
        flow_height=flow_size[0],
        flow_width=flow_size[1],
    )


def read_frames_clip(clip: Clip, index: SourceIndex, verify_jpeg_decode: bool = True) -> Video:
    """Reads a clip from the frame archives, keeping every JPEG's bytes unchanged.

    `verify_jpeg_decode` fully decodes every JPEG (see the module docstring); False checks
    their markers only.

    Raises:
      ClipError: see `read_frame_folders`.
    """
    layout = index.layout
    parents = (f"frames_dir={layout.frames_dir}", f"flow_dir={layout.flow_dir}")
    media = read_frame_folders(
        clip, index.rgb_dir(clip), index.flow_dirs(clip), verify_jpeg_decode, parents
    )
    return clip_video(clip, **media, source="frames", frame_rate=FRAME_RATE)  # not recorded


def clip_video(clip: Clip, **media) -> Video:
    """A Video of `clip`'s identity (id, class, label, group, clip) and `media` fields."""
    return Video(
        video_id=clip.video_id,
        class_name=clip.class_name,
        label=clip.label,
        group=clip.group,
        clip=clip.clip,
        **media,
    )


def videos_source_name(flow_algorithm: str) -> str:
    """The records' `ucf101/source` for the videos source: 'videos/<flow algorithm>'."""
    return f"videos/{flow_algorithm}"


def read_video_clip(clip: Clip, index: SourceIndex, flow_algorithm: str) -> Video:
    """Decodes a clip's video and computes its frames and flow (`optical_flow.video_frames`).

    Raises:
      ClipError: the video is missing, cannot be decoded, or has fewer than 2 frames.
    """
    path = index.video(clip)
    if path is None:
        raise ClipError(
            STAGE_LOCATE,
            f"{clip.video_id}: {clip.list_entry} not found in videos_dir="
            f"{index.layout.videos_dir} (looked up case-insensitively)",
        )
    try:
        frames = video_frames.video_to_frames(path, flow_algorithm)
    except video_frames.VideoError as e:
        raise ClipError(STAGE_DECODE, str(e)) from e
    _check_counts(clip, len(frames.rgb), len(frames.flow_x), len(frames.flow_y), path)
    return clip_video(
        clip,
        rgb=frames.rgb,
        flow_x=frames.flow_x,
        flow_y=frames.flow_y,
        height=frames.height,
        width=frames.width,
        flow_height=frames.height,
        flow_width=frames.width,
        source=videos_source_name(flow_algorithm),
        frame_rate=frames.frame_rate,
    )


def frame_resize(source: str) -> str:
    """The manifest's `frame_resize` of `source` ('frames' or 'videos')."""
    return FRAMES_AS_GIVEN if source == "frames" else video_frames.FRAME_RESIZE


def read_clip(
    clip: Clip,
    index: SourceIndex,
    source: str,
    flow_algorithm: str,
    verify_jpeg_decode: bool = True,
) -> Video:
    """Reads one clip from `source` ('frames' or 'videos'; see the module docstring).

    `verify_jpeg_decode` applies to 'frames' only: the videos source encodes its own JPEGs
    (`preprocessing.flow_cache` applies it when reading them back).

    Raises:
      ClipError: see `read_frames_clip` and `read_video_clip`.
      DatasetError: unknown `source` or `flow_algorithm`.
    """
    if source == "frames":
        return read_frames_clip(clip, index, verify_jpeg_decode)
    if source == "videos":
        return read_video_clip(clip, index, flow_algorithm)
    raise DatasetError(f"source {source!r}: use one of {SOURCES}")
