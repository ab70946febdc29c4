"""Tests of video_sampling: a video file -> the Beam videos source's bytes, sampled frames only."""

import contextlib
import functools
import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf

from evaluation import video_sampling
from input_pipeline import samples
from optical_flow import video_frames
from preprocessing import ucf101
from tfrecords import schema, streams
from tfrecords.schema import FRAME_RATE

SIZE = (video_frames.FRAME_HEIGHT, video_frames.FRAME_WIDTH)  # the synthetic 320x240 clips
WIDE_SIZE = (256, 454)  # a 640x360 video's frames: 640 x 256 / 360 = 455.1 -> 454 (even)


def _spec(stream, num_samples, length=1, num_crops=1):
    return samples.SampleSpec(
        stream=stream,
        num_flow_frames=length,
        image_size=16,
        samples_per_video=1,
        crop_scales=(1.0,),
        max_scale_jitter=0,
        random_flip=False,
        dct_method="INTEGER_FAST",
        eval_crop_scale=0.875,
        eval_num_samples=num_samples,
        eval_num_crops=num_crops,
    )


SPATIAL = video_sampling.StreamInput(_spec(streams.SPATIAL, 3))
TEMPORAL = video_sampling.StreamInput(_spec(streams.TEMPORAL, 2, length=3))


@pytest.fixture(scope="module")
def clip(synthetic_root) -> str:
    """The longest test clip of the shared synthetic tree (16 frames at most)."""
    videos = pathlib.Path(synthetic_root).glob(f"{ucf101.VIDEOS_DIR}/*/*_g01_*.avi")
    return str(max(videos, key=lambda p: cv2.VideoCapture(str(p)).get(cv2.CAP_PROP_FRAME_COUNT)))


@pytest.fixture(scope="module")
def beam_frames(clip) -> video_frames.EncodedFrames:
    """What the Beam job's videos source encodes for the clip (every frame, DIS flow)."""
    return video_frames.video_to_frames(clip, "dis")


@pytest.fixture(scope="module")
def wide_clip(tmp_path_factory) -> str:
    """A 16:9 phone-sized video (640x360, 12 frames of smooth noise moving 3 px a frame)."""
    path = tmp_path_factory.mktemp("wide") / "wide.avi"
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (640, 360))
    for i in range(12):
        writer.write(np.roll(smooth, 3 * i, axis=1))
    writer.release()
    return str(path)


# (clip fixture, the frame size of its records): UCF-101's 4:3 and a 16:9 video.
CLIPS = [("clip", SIZE), ("wide_clip", WIDE_SIZE)]


def test_sampled_frames_hand_computed():
    # 100 RGB frames, K = 4: the centres of 4 segments of the 100 starts.
    assert video_sampling.sampled_frames(_spec(streams.SPATIAL, 4), 100).tolist() == [
        [12],
        [37],
        [62],
        [87],
    ]
    # 99 flow frames, L = 10: 90 starts, centres floor((2k + 1) 90 / 8) = 11, 33, 56, 78.
    stacks = video_sampling.sampled_frames(_spec(streams.TEMPORAL, 4, length=10), 99)
    assert stacks[:, 0].tolist() == [11, 33, 56, 78]
    assert stacks[1].tolist() == list(range(33, 43))
    # 5 flow frames, L = 10: one start, the stack loops.
    assert (
        video_sampling.sampled_frames(_spec(streams.TEMPORAL, 2, length=10), 5).tolist()
        == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]] * 2
    )


@pytest.mark.parametrize("clip_name, size", CLIPS, ids=["4:3", "16:9"])
def test_sampled_frames_are_beam_bytes_and_nothing_else_is_computed(request, clip_name, size):
    clip = request.getfixturevalue(clip_name)
    beam_frames = video_frames.video_to_frames(clip, "dis")
    assert (beam_frames.height, beam_frames.width) == size
    sampled = video_sampling.read_video(clip, [SPATIAL, TEMPORAL], "dis", progress=False)
    n = len(beam_frames.rgb)
    assert sampled.num_frames == n
    rgb = set(video_sampling.sampled_frames(SPATIAL.spec, n).ravel().tolist())
    flow = set(video_sampling.sampled_frames(TEMPORAL.spec, n - 1).ravel().tolist())
    assert 0 < len(flow) < n - 1, "the clip should have pairs no stack reads"
    assert sampled.flow_pairs == len(flow)
    video = sampled.video
    assert [i for i, jpeg in enumerate(video.rgb) if jpeg] == sorted(rgb)
    assert [i for i, jpeg in enumerate(video.flow_x) if jpeg] == sorted(flow)
    for i in rgb:
        assert video.rgb[i] == beam_frames.rgb[i]
    for i in flow:
        assert (video.flow_x[i], video.flow_y[i]) == (beam_frames.flow_x[i], beam_frames.flow_y[i])
    assert (video.height, video.width, video.flow_height, video.flow_width) == (*size, *size)
    assert video.source == "videos/dis" and video.frame_rate == FRAME_RATE
    assert sampled.decode_seconds > 0 and sampled.flow_seconds > 0


@pytest.mark.parametrize("clip_name, size", CLIPS, ids=["4:3", "16:9"])
@pytest.mark.parametrize("stream", [SPATIAL, TEMPORAL], ids=["spatial", "temporal"])
def test_gather_and_decode_eval_read_only_what_was_encoded(request, clip_name, size, stream):
    """The eval functions run on the records (an empty frame would fail to decode); the views
    are cut from the video's own frame (16:9: boxes of side 0.875 x 256 = 224 spread over
    454 columns, the centre at (16, 115))."""
    clip = request.getfixturevalue(clip_name)
    sampled = video_sampling.read_video(clip, [stream], "dis", progress=False)
    record = schema.encode_records(sampled.video, 1)[stream.spec.modality][0]
    dataset = (
        tf.data.Dataset.from_tensors(record)
        .map(functools.partial(samples.gather_eval, spec=stream.spec))
        .unbatch()
        .map(functools.partial(samples.decode_eval, spec=stream.spec))
    )
    views = list(dataset)
    assert len(views) == stream.spec.eval_num_samples
    windows = views[0][samples.WINDOWS]
    assert windows.frames.shape == (stream.spec.num_frames, *size, stream.spec.frame_channels)
    free_y, free_x = size[0] - 224, size[1] - 224
    assert windows.boxes.numpy().tolist() == [[free_y // 2, free_x // 2, 224, 224]]
    if not stream.spec.stream.flow:
        assert sampled.flow_pairs == 0 and not any(sampled.video.flow_x)


def test_a_wrong_header_count_decodes_again_with_the_true_count(clip, monkeypatch):
    expected = video_sampling.read_video(clip, [SPATIAL, TEMPORAL], "dis", progress=False)
    opened = []
    real_open = video_frames.open_video

    @contextlib.contextmanager
    def lying_open(path):
        """Claims 4 frames: the first pass plans for 4 and finds more."""
        opened.append(path)
        with real_open(path) as video:
            yield video_frames.VideoStream(video.frame_rate, 4, video.frames)

    monkeypatch.setattr(video_frames, "open_video", lying_open)
    sampled = video_sampling.read_video(clip, [SPATIAL, TEMPORAL], "dis", progress=False)
    assert len(opened) == 2
    assert sampled.video == expected.video and sampled.flow_pairs == expected.flow_pairs


def test_previews_are_the_stack_starts_as_the_model_reads_them(clip, beam_frames):
    sampled = video_sampling.read_video(clip, [TEMPORAL], "dis", num_previews=4, progress=False)
    starts = video_sampling.sampled_frames(TEMPORAL.spec, len(beam_frames.rgb) - 1)[:, 0]
    assert [p.frame for p in sampled.previews] == sorted(set(starts.tolist()))
    preview = sampled.previews[0]
    assert preview.rgb.shape == (*SIZE, 3) and preview.rgb.dtype == np.uint8
    assert preview.flow.shape == (*SIZE, 2) and preview.flow.dtype == np.float32
    stored = tf.io.decode_jpeg(beam_frames.flow_x[preview.frame], channels=1)[..., 0]
    np.testing.assert_allclose(preview.flow[..., 0], schema.dequantize_flow(stored).numpy())
    # The preview RGB frame is encoded too, though no spatial stream reads it.
    assert sampled.video.rgb[preview.frame] == beam_frames.rgb[preview.frame]


def _write_avi(path, count):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (320, 240))
    for i in range(count):
        writer.write(np.full((240, 320, 3), 40 * i, np.uint8))
    writer.release()
    return str(path)


def test_unusable_files_are_video_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    cases = [
        (str(tmp_path / "missing.avi"), "no such file"),
        (str(tmp_path), "a directory, not a video file"),
        (str(text), "OpenCV cannot open this video"),
        (_write_avi(tmp_path / "one.avi", 1), r"1 frame\(s\); a clip needs at least 2"),
    ]
    for path, message in cases:
        with pytest.raises(video_frames.VideoError, match=message):
            video_sampling.read_video(path, [SPATIAL], None, progress=False)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="give one spatial and/or one temporal"):
        video_sampling.read_video("x.avi", [SPATIAL, SPATIAL], None)
    with pytest.raises(ValueError, match="needs a flow algorithm"):
        video_sampling.read_video("x.avi", [TEMPORAL], None)
