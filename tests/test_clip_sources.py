"""Tests of reading one clip's sources (frame archives or a video) into a schema Video."""

import pathlib
import re

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import damage_jpeg_scan

from preprocessing import clip_sources, ucf101
from preprocessing import layout as layout_lib
from preprocessing.clip_sources import ClipError, check_jpeg_decodes, jpeg_shape
from preprocessing.layout import Layout, SourceIndex
from preprocessing.ucf101 import Clip
from tfrecords.schema import FRAME_RATE

# The lists spell HandStand, the archives Handstand: lookups must not care.
CLIP = Clip(
    video_id="v_HandstandPushups_g01_c01",
    class_name="HandstandPushups",
    label=36,
    group=1,
    clip=1,
    subset="test",
    list_entry="HandStandPushups/v_HandStandPushups_g01_c01.avi",
)


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def _write_frames(folder: pathlib.Path, count: int, shape: tuple[int, ...], seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        (folder / layout_lib.frame_name(i)).write_bytes(_jpeg(image))


@pytest.fixture
def archives(tmp_path) -> Layout:
    """jpegs_256/ and tvl1_flow/{u,v}/ for CLIP: 5 RGB frames 340x256, 4 flow frames."""
    layout = Layout.under(str(tmp_path))
    name = "v_HandstandPushups_g01_c01"
    _write_frames(pathlib.Path(layout.frames_dir) / name, 5, (256, 340, 3), seed=1)
    _write_frames(
        pathlib.Path(layout.flow_dir) / layout_lib.FLOW_X_DIR / name, 4, (256, 340), seed=2
    )
    _write_frames(
        pathlib.Path(layout.flow_dir) / layout_lib.FLOW_Y_DIR / name, 4, (256, 340), seed=3
    )
    return layout


def _stage_of(layout: Layout) -> str:
    with pytest.raises(ClipError) as error:
        clip_sources.read_frames_clip(CLIP, SourceIndex(layout))
    return error.value.stage


def test_jpeg_shape_reads_the_frame_header():
    assert jpeg_shape(_jpeg(np.zeros((256, 340, 3), np.uint8))) == (256, 340, 3)
    assert jpeg_shape(_jpeg(np.zeros((17, 5), np.uint8))) == (17, 5, 1)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "EOI marker"),
        (lambda data: b"\x89PNG" + data[4:], "SOI marker"),
        (lambda data: data[:2] + b"\x00" * 40 + data[-2:], "broken marker sequence"),
        (lambda data: data[:2] + b"\xff\xda\x00\x02" + data[-2:], "no frame header"),
        (lambda data: b"", "SOI marker"),
    ],
)
def test_jpeg_shape_rejects_corrupt_files(damage, message):
    data = _jpeg(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=message):
        jpeg_shape(damage(data))


def test_frames_clip_keeps_source_bytes(archives):
    video = clip_sources.read_frames_clip(CLIP, SourceIndex(archives))
    rgb_dir = pathlib.Path(archives.frames_dir) / "v_HandstandPushups_g01_c01"
    expected = [p.read_bytes() for p in sorted(rgb_dir.iterdir())]
    assert list(video.rgb) == expected
    u_dir = pathlib.Path(archives.flow_dir) / layout_lib.FLOW_X_DIR / "v_HandstandPushups_g01_c01"
    assert list(video.flow_x) == [p.read_bytes() for p in sorted(u_dir.iterdir())]
    assert (len(video.rgb), len(video.flow_x), len(video.flow_y)) == (5, 4, 4)
    assert (video.video_id, video.label, video.class_name) == (
        CLIP.video_id,
        36,
        "HandstandPushups",
    )
    assert (video.height, video.width, video.flow_height, video.flow_width) == (256, 340, 256, 340)
    assert video.source == "frames"


def test_missing_rgb_folder_is_located(archives):
    (pathlib.Path(archives.frames_dir) / "v_HandstandPushups_g01_c01").rename(
        pathlib.Path(archives.frames_dir) / "elsewhere"
    )
    assert _stage_of(archives) == "locate"


def test_missing_flow_folder_is_located(archives):
    folder = pathlib.Path(archives.flow_dir) / layout_lib.FLOW_Y_DIR / "v_HandstandPushups_g01_c01"
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    where = re.escape(f"no y (v) flow folder in flow_dir={archives.flow_dir} (looked up")
    with pytest.raises(ClipError, match=f"^{CLIP.video_id}: {where}") as error:
        clip_sources.read_frames_clip(CLIP, SourceIndex(archives))
    assert error.value.stage == "locate"


def test_frame_gap_is_a_list_failure(archives):
    (
        pathlib.Path(archives.frames_dir) / "v_HandstandPushups_g01_c01" / layout_lib.frame_name(3)
    ).unlink()
    assert _stage_of(archives) == "list"


def test_short_flow_breaks_the_count_rule(archives):
    for axis in (layout_lib.FLOW_X_DIR, layout_lib.FLOW_Y_DIR):
        folder = pathlib.Path(archives.flow_dir) / axis / "v_HandstandPushups_g01_c01"
        (folder / layout_lib.frame_name(4)).unlink()
    with pytest.raises(ClipError, match="5 RGB frames need 4 flow frames") as error:
        clip_sources.read_frames_clip(CLIP, SourceIndex(archives))
    assert error.value.stage == "frame_counts"


def test_empty_clip_breaks_the_count_rule(archives):
    for path in (pathlib.Path(archives.frames_dir) / "v_HandstandPushups_g01_c01").iterdir():
        path.unlink()
    assert _stage_of(archives) == "frame_counts"


def test_corrupt_jpeg_is_a_jpeg_failure(archives):
    path = (
        pathlib.Path(archives.flow_dir)
        / layout_lib.FLOW_X_DIR
        / "v_HandstandPushups_g01_c01"
        / layout_lib.frame_name(2)
    )
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ClipError, match="frame000002.jpg: corrupt JPEG") as error:
        clip_sources.read_frames_clip(CLIP, SourceIndex(archives))
    assert error.value.stage == "jpeg"


def test_frame_of_another_size_is_a_jpeg_failure(archives):
    path = (
        pathlib.Path(archives.frames_dir) / "v_HandstandPushups_g01_c01" / layout_lib.frame_name(4)
    )
    path.write_bytes(_jpeg(np.zeros((240, 320, 3), np.uint8)))
    with pytest.raises(ClipError, match="must share one size") as error:
        clip_sources.read_frames_clip(CLIP, SourceIndex(archives))
    assert error.value.stage == "jpeg"


@pytest.mark.parametrize("shape", [(256, 340, 3), (256, 340)])
def test_decode_check_passes_intact_and_rejects_scan_damage(shape):
    data = _jpeg(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    channels = jpeg_shape(data)[2]
    check_jpeg_decodes(data, channels)
    damaged = damage_jpeg_scan(data)
    assert jpeg_shape(damaged) == jpeg_shape(data)  # the markers cannot tell
    assert tf.io.decode_jpeg(damaged).shape == (256, 340, channels)  # libjpeg only warns
    with pytest.raises(ValueError, match="does not decode cleanly .*Corrupt JPEG data"):
        check_jpeg_decodes(damaged, channels)


def test_decode_check_names_unsupported_channel_counts():
    with pytest.raises(ValueError, match="2 colour channels"):
        check_jpeg_decodes(_jpeg(np.zeros((8, 8, 3), np.uint8)), 2)


@pytest.mark.parametrize("stream, what", [("rgb", "RGB"), ("flow_x", "flow"), ("flow_y", "flow")])
def test_scan_damage_is_a_jpeg_failure_unless_the_check_is_off(archives, stream, what):
    folder = {
        "rgb": pathlib.Path(archives.frames_dir),
        "flow_x": pathlib.Path(archives.flow_dir, layout_lib.FLOW_X_DIR),
        "flow_y": pathlib.Path(archives.flow_dir, layout_lib.FLOW_Y_DIR),
    }[stream]
    path = folder / "v_HandstandPushups_g01_c01" / layout_lib.frame_name(3)
    path.write_bytes(damage_jpeg_scan(path.read_bytes()))
    index = SourceIndex(archives)
    with pytest.raises(ClipError) as error:
        clip_sources.read_clip(CLIP, index, "frames", "dis")
    assert error.value.stage == "jpeg"
    message = str(error.value)
    assert message.startswith(f"{path}: corrupt JPEG, does not decode cleanly (Corrupt JPEG")
    assert f"re-extract this clip's {what} frames" in message

    video = clip_sources.read_clip(CLIP, index, "frames", "dis", verify_jpeg_decode=False)
    assert getattr(video, stream)[2] == path.read_bytes()  # kept as it is, grey blocks and all


def test_decode_check_keeps_intact_clips_byte_for_byte(archives):
    index = SourceIndex(archives)
    checked = clip_sources.read_frames_clip(CLIP, index)
    unchecked = clip_sources.read_frames_clip(CLIP, index, verify_jpeg_decode=False)
    assert checked == unchecked


def _write_video(path: pathlib.Path, count: int) -> None:
    path.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    writer.release()


def test_video_clip_is_decoded_and_resized(tmp_path):
    layout = Layout.under(str(tmp_path))
    _write_video(
        tmp_path / ucf101.VIDEOS_DIR / "HandstandPushups" / "v_HandstandPushups_g01_c01.avi", 4
    )
    video = clip_sources.read_clip(CLIP, SourceIndex(layout), "videos", "dis")
    assert (len(video.rgb), len(video.flow_x), len(video.flow_y)) == (4, 3, 3)
    assert (video.height, video.width) == (256, 340)
    assert video.source == "videos/dis" and video.frame_rate == FRAME_RATE


def test_missing_and_truncated_videos(tmp_path):
    layout = Layout.under(str(tmp_path))
    (tmp_path / ucf101.VIDEOS_DIR).mkdir()
    where = re.escape(f"not found in videos_dir={layout.videos_dir} (looked up")
    with pytest.raises(ClipError, match=f"^{CLIP.video_id}: .* {where}") as error:
        clip_sources.read_clip(CLIP, SourceIndex(layout), "videos", "dis")
    assert error.value.stage == "locate"
    path = tmp_path / ucf101.VIDEOS_DIR / "HandstandPushups" / "v_HandstandPushups_g01_c01.avi"
    _write_video(path, 10)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ClipError, match="truncated") as error:
        clip_sources.read_clip(CLIP, SourceIndex(layout), "videos", "dis")
    assert error.value.stage == "decode"


def test_one_frame_video_breaks_the_count_rule(tmp_path):
    layout = Layout.under(str(tmp_path))
    _write_video(
        tmp_path / ucf101.VIDEOS_DIR / "HandstandPushups" / "v_HandstandPushups_g01_c01.avi", 1
    )
    with pytest.raises(ClipError, match="at least 2") as error:
        clip_sources.read_clip(CLIP, SourceIndex(layout), "videos", "dis")
    assert error.value.stage == "frame_counts"


def test_unknown_source_names_the_flag(archives):
    with pytest.raises(ValueError, match="source '.*': use one of"):
        clip_sources.read_clip(CLIP, SourceIndex(archives), "zip", "dis")
