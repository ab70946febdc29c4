"""Tests of the evaluation's device step: padding, known-answer scores, one trace per
evaluation, every uint8 gather under XLA, and two mirrored replicas equal to one device."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import hand_made_metadata, reference_view, tiny_eval_config, uint8_gathers

import models
from evaluation import evaluate, view_scoring
from input_pipeline import resample, samples
from tfrecords import testdata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, HEIGHT, WIDTH = 16, 24, 32
# (offset_y, offset_x, height, width) of the two views of every sample: one enlarged, one shrunk.
BOXES = [[3, 5, 12, 10], [0, 2, 24, 28]]


def _model(channels: int) -> keras.Model:
    """A small model with batch norm and dropout (inference mode must switch both off)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))


def _spec(flow: bool) -> samples.SampleSpec:
    stream = "temporal" if flow else "spatial"
    return hand_made_metadata(stream=stream, image_size=SIZE, num_flow_frames=2).sample_spec()


def _windows(count: int, spec: samples.SampleSpec) -> resample.Windows:
    """`count` samples of textured frames (each frame and sample its own phase), two views
    each, the second view of odd samples mirrored."""
    frames = np.stack(
        [
            np.stack(
                [
                    testdata.textured(HEIGHT, WIDTH, spec.frame_channels, phase=b + 0.3 * t)
                    for t in range(spec.num_frames)
                ]
            )
            for b in range(count)
        ]
    )
    flips = np.array([[False, b % 2 == 1] for b in range(count)])
    boxes = np.broadcast_to(np.array(BOXES, np.int32), (count, 2, 4))
    return resample.Windows(tf.constant(frames), tf.constant(boxes), tf.constant(flips))


def _batch(windows: resample.Windows) -> dict:
    return {samples.WINDOWS: windows}


def test_global_batch_rounds_up_to_a_multiple_of_the_replicas():
    assert [view_scoring.global_batch(b, r) for b, r in [(7, 1), (7, 2), (8, 2), (1, 4)]] == [
        7,
        8,
        8,
        4,
    ]
    with pytest.raises(ValueError, match="batch_samples=0"):
        view_scoring.global_batch(0, 1)


def test_pad_windows_appends_empty_samples_after_the_given_ones():
    windows = _windows(3, _spec(flow=False))
    padded = view_scoring.pad_windows(windows, 5)
    for given, out in zip(windows, padded, strict=True):
        assert out.shape[0] == 5
        np.testing.assert_array_equal(out[:3], given)
        assert not np.any(out[3:])
    with pytest.raises(ValueError, match="3 samples does not fit a padded batch of 2"):
        view_scoring.pad_windows(windows, 2)


@pytest.mark.parametrize("flow", [False, True])
def test_scores_are_the_model_on_views_cut_independently(flow):
    spec = _spec(flow)
    model = _model(spec.num_channels)
    scorer = view_scoring.ViewScorer(lambda x: model(x, training=False), spec, 4)
    windows = _windows(3, spec)  # a short batch: padded to 4 inside
    scores = scorer(_batch(windows))
    # Frames [T, H, W, c] -> [H, W, T * c] as model_input stacks them; views cut by numpy.
    stacks = np.transpose(windows.frames.numpy(), [0, 2, 3, 1, 4]).reshape(3, HEIGHT, WIDTH, -1)
    views = [
        reference_view(stacks[b], box, flip, SIZE, flow)
        for b in range(3)
        for box, flip in zip(BOXES, windows.flips.numpy()[b], strict=True)
    ]
    expected = model(np.stack(views), training=False).numpy()
    assert scores.shape == (6, 5)
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_one_trace_whatever_the_batch_fill_and_every_uint8_gather_compiled():
    spec = _spec(flow=True)
    model = _model(spec.num_channels)
    scorer = view_scoring.ViewScorer(lambda x: model(x, training=False), spec, 4)
    for count in (4, 3, 1):  # a full batch, then short last batches: no retrace, no recompile
        assert scorer(_batch(_windows(count, spec))).shape == (2 * count, 5)
    assert scorer.step_fn.experimental_get_tracing_count() == 1
    traced = scorer.step_fn.get_concrete_function(scorer.distribute(_windows(4, spec)))
    outside, inside = uint8_gathers(traced)
    assert len(inside) == 2 and not outside, outside  # the resample's row and column gathers


def eval_config(stream: str):
    """The tiny evaluation config at 2 samples x 10 crops per video, 3 samples per batch."""
    config = tiny_eval_config(stream)
    config.data.eval_num_samples = 2
    config.eval.batch_size = 30
    return config


def write_records(data_dir: str) -> None:
    """5 test videos of 3 classes, 5..9 textured frames of 24 x 32 (10 samples: batches of
    3, 3, 3 and a short 1)."""

    def video(index: int) -> testdata.schema.Video:
        count = 5 + index
        rgb = [testdata.textured_jpeg(HEIGHT, WIDTH, 3, phase=index + t) for t in range(count)]
        flow = [testdata.textured_jpeg(HEIGHT, WIDTH, 1, phase=t - index) for t in range(count)]
        return testdata.make_video(f"v_{index}", index % 3, rgb, flow[1:], flow[:-1], (24, 32))

    testdata.write_data_dir(data_dir, {"test": [video(i) for i in range(5)]}, num_classes=3)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import models
    from evaluation import evaluate
    from tests.test_view_scoring import eval_config, write_records

    data_dir = sys.argv[1]
    write_records(data_dir)
    result = {}
    for stream in ("spatial", "temporal"):
        config = eval_config(stream)
        keras.utils.set_random_seed(0)
        weights = models.build_model(config, 3).get_weights()
        for name, strategy in [
            ("default", tf.distribute.get_strategy()),
            ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
        ]:
            with strategy.scope():
                model = models.build_model(config, 3)
                model.set_weights(weights)
            scores = evaluate.score_model(
                model, config, data_dir, "test", "c", 1, progress=False, strategy=strategy
            )
            result[f"{stream}/{name}"] = scores.scores.tolist()
            result[f"{stream}/{name}/replicas"] = strategy.num_replicas_in_sync
    print(json.dumps(result))
    """
)


def test_two_mirrored_replicas_score_every_video_as_one_device(tmp_path):
    # Logical devices must be configured before TensorFlow initializes: a fresh process.
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")])},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    for stream in ("spatial", "temporal"):
        assert result[f"{stream}/mirrored/replicas"] == 2
        one, two = np.array(result[f"{stream}/default"]), np.array(result[f"{stream}/mirrored"])
        assert one.shape == (5, 3)
        np.testing.assert_allclose(two, one, atol=1e-5)


def test_score_model_on_the_default_strategy_needs_no_argument(tmp_path):
    write_records(str(tmp_path))
    config = eval_config("temporal")
    keras.utils.set_random_seed(0)
    model = models.build_model(config, 3)
    default = evaluate.score_model(model, config, str(tmp_path), "test", "c", 1, progress=False)
    named = evaluate.score_model(
        model,
        config,
        str(tmp_path),
        "test",
        "c",
        1,
        progress=False,
        strategy=tf.distribute.get_strategy(),
    )
    np.testing.assert_array_equal(named.scores, default.scores)
    assert default.video_ids.tolist() == [f"v_{i}" for i in range(5)]
