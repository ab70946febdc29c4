"""Tests of the SavedModel export: signatures, same probabilities as Keras, export.json, and
the `export.py` binary end to end."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging
from conftest import hand_made_metadata, uint8_gathers

import models
from evaluation import export, export_metadata
from input_pipeline import crops, resample
from tfrecords import testdata
from training import checkpoints

REPO = pathlib.Path(__file__).resolve().parents[1]
NAMES = ["ApplyEyeMakeup", "Archery", "YoYo"]
STEP = 7
# The demo temporal config shrunk to a 16 x 16 input of L = 2 flow frames (C = 4).
TINY_TEMPORAL = """
from configs import demo_temporal


def get_config():
    config = demo_temporal.get_config()
    config.data.image_size = 16
    config.data.num_flow_frames = 2
    config.model.tiny_widths = (4,)
    return config
"""


def _model(channels):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.9)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _metadata(channels, class_names=tuple(NAMES)):
    temporal = channels > 3
    return hand_made_metadata(
        stream="temporal" if temporal else "spatial",
        num_flow_frames=channels // 2 if temporal else 10,
        class_names=tuple(class_names),
    )


@pytest.fixture(scope="module", params=[3, 20], ids=["spatial", "temporal"])
def exported(request, tmp_path_factory):
    model = _model(request.param)
    path = str(tmp_path_factory.mktemp("export") / "model")
    export.export_saved_model(model, path, _metadata(request.param))
    return model, tf.saved_model.load(path), path, request.param


def test_reloaded_model_gives_the_keras_probabilities(exported):
    model, loaded, _, channels = exported
    frames = np.random.default_rng(0).integers(0, 256, (5, 8, 8, channels)).astype(np.uint8)
    serve = loaded.signatures["serving_default"]
    served = serve(frames=tf.constant(frames))["probabilities"].numpy()
    expected = model(frames.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-7)
    # The same signature inside a tf.data map, one example at a time.
    mapped = tf.data.Dataset.from_tensor_slices(frames).map(
        lambda f: serve(frames=f[tf.newaxis])["probabilities"][0]
    )
    np.testing.assert_allclose(np.stack(list(mapped)), expected, rtol=1e-6, atol=1e-7)


def test_float_signature_takes_unrounded_views_exactly_as_keras(exported):
    """What resample.model_input returns (bilinear, not integers) goes in unrounded."""
    model, loaded, _, channels = exported
    views = np.random.default_rng(1).uniform(0, 255, (4, 8, 8, channels)).astype(np.float32)
    serve = loaded.signatures[export.FLOAT_SIGNATURE]
    spec = serve.structured_input_signature[1]["frames"]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, 8, 8, channels]
    served = serve(frames=tf.constant(views))["probabilities"].numpy()
    np.testing.assert_array_equal(served, model(views, training=False).numpy())
    rounded = loaded.signatures["serving_default"](frames=tf.constant(views.round(), tf.uint8))
    assert not np.array_equal(rounded["probabilities"].numpy(), served)


def test_signature_takes_uint8_of_the_stream_shape(exported):
    _, loaded, _, channels = exported
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["frames"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 8, 8, channels]
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        loaded.signatures["serving_default"](frames=tf.zeros([1, 8, 8, channels], tf.float32))


def test_class_names_in_signature_file_and_metadata(exported):
    _, loaded, path, channels = exported
    names = loaded.signatures["class_names"]()["class_names"].numpy()
    assert [n.decode() for n in names] == NAMES
    assert tf.io.gfile.GFile(f"{path}/class_names.txt").read().splitlines() == NAMES
    metadata = export_metadata.read_metadata(path)
    assert metadata == _metadata(channels)
    assert metadata.num_channels == channels


def test_export_leaves_the_absl_log_level_as_it_was(tmp_path):
    # tf.saved_model.save sets absl's logger to WARNING; a caller's INFO lines must survive.
    absl_logger = logging.get_absl_logger()
    level = absl_logger.level
    absl_logger.setLevel(logging.converter.STANDARD_INFO)
    try:
        export.export_saved_model(_model(3), str(tmp_path / "m"), _metadata(3))
        assert absl_logger.level == logging.converter.STANDARD_INFO
    finally:
        absl_logger.setLevel(level)


def test_output_width_must_match_class_names(tmp_path):
    with pytest.raises(ValueError, match="3 outputs but the manifest lists 2"):
        export.export_saved_model(_model(3), str(tmp_path / "m"), _metadata(3, NAMES[:2]))


def test_read_metadata_names_what_is_not_an_export(exported, tmp_path):
    _, _, path, _ = exported
    with pytest.raises(export_metadata.ExportError, match="no such directory"):
        export_metadata.read_metadata(str(tmp_path / "missing"))
    with pytest.raises(export_metadata.ExportError, match=r"not an export \(no saved_model.pb\)"):
        export_metadata.read_metadata(str(tmp_path))
    copy = tmp_path / "copy"
    tf.io.gfile.makedirs(str(copy))
    tf.io.gfile.copy(f"{path}/saved_model.pb", str(copy / "saved_model.pb"))
    with pytest.raises(export_metadata.ExportError, match="export.json: not found"):
        export_metadata.read_metadata(str(copy))
    (copy / "export.json").write_text("{not json")
    with pytest.raises(export_metadata.ExportError, match="not the export.json of this project"):
        export_metadata.read_metadata(str(copy))
    fields = json.loads(tf.io.gfile.GFile(f"{path}/export.json").read())
    (copy / "export.json").write_text(json.dumps({**fields, "format_version": 99}))
    with pytest.raises(export_metadata.ExportError, match="format version 99"):
        export_metadata.read_metadata(str(copy))


@pytest.mark.slow
def test_export_cli_writes_the_stream_under_the_workdir(tmp_path):
    """`export.py` without --export_dir: W/export/temporal, serving the checkpoint's model."""
    flow = [testdata.painted_jpeg(128, 24, 32, 1)]
    videos = [
        testdata.make_video(
            f"v_{i}", i % 3, [testdata.painted_jpeg(i, 24, 32, 3)] * 2, flow, flow, (24, 32)
        )
        for i in range(3)
    ]
    data_dir = str(tmp_path / "records")
    testdata.write_data_dir(data_dir, {"train": videos, "test": videos}, num_classes=3)
    config_path = tmp_path / "tiny_temporal.py"
    config_path.write_text(TINY_TEMPORAL)
    spec = importlib.util.spec_from_file_location("tiny_temporal", config_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    workdir = str(tmp_path / "run")
    keras.utils.set_random_seed(1)
    model = models.build_model(config, 3)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(STEP, dtype=tf.int64), model=model)
    checkpoints.Checkpointer(workdir, tf.distribute.get_strategy(), checkpoint, 1).save(STEP)

    args = [f"--config={config_path}", f"--workdir={workdir}", f"--data_dir={data_dir}"]
    result = subprocess.run(
        [sys.executable, "export.py", *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]

    directory = tmp_path / "run" / "export" / "temporal"
    written = {p.name for p in directory.iterdir()}
    assert {"saved_model.pb", "variables", "class_names.txt", "export.json"} <= written
    assert (directory / "class_names.txt").read_text() == "class0\nclass1\nclass2\n"
    metadata = export_metadata.read_metadata(str(directory))
    assert metadata.checkpoint == f"{workdir}/checkpoints/ckpt-{STEP} (step {STEP})"
    assert (metadata.stream, metadata.num_channels) == ("temporal", 4)
    loaded = tf.saved_model.load(str(directory))
    frames = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 4)).astype(np.uint8)
    served = loaded.signatures["serving_default"](frames=tf.constant(frames))["probabilities"]
    expected = checkpoints.restore_model(config, workdir, 3)(frames.astype(np.float32))
    np.testing.assert_allclose(served.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def _textured(height, width, channels):
    """uint8 [height, width, channels] of crossing gradients: no two neighbours alike, so a
    wrong offset, flip or resize changes the views."""
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    return ((7 * y + 13 * x + 29 * c + (x * y) % 11) % 256).astype(np.uint8)


def _mirrored(view, flow):
    """A view mirrored left-right by hand; flow's x channels (even) negated: 255 - x."""
    view = view[:, ::-1].astype(np.float32)
    if flow:
        view[..., 0::2] = 255 - view[..., 0::2]
    return view


def test_sample_signature_cuts_the_evaluation_views(exported):
    """10 x 14 frames, crop scale 0.875: 8 x 8 squares (= S, no resize) at offsets by hand."""
    model, loaded, _, channels = exported
    frames = _textured(10, 14, channels)
    served = loaded.signatures[export.SAMPLE_SIGNATURE](frames=tf.constant(frames))
    # Free space 2 x 6: centre (1, 3), then the corners; then the same five mirrored.
    corners = [(1, 3), (0, 0), (0, 6), (2, 0), (2, 6)]
    expected_boxes = [[y, x, 8, 8] for y, x in corners] * 2
    np.testing.assert_array_equal(served[export.BOXES].numpy(), expected_boxes)
    np.testing.assert_array_equal(served[export.FLIPS].numpy(), [False] * 5 + [True] * 5)
    views = [frames[y : y + 8, x : x + 8].astype(np.float32) for y, x in corners]
    views += [_mirrored(view, channels > 3) for view in views]
    expected = model(np.stack(views), training=False).numpy()
    probabilities = served[export.SERVING_OUTPUT].numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        served[export.MEAN_OUTPUT].numpy(), expected.mean(axis=0), rtol=1e-5, atol=1e-6
    )


def test_sample_signature_equals_the_float_signature_over_eval_views(exported):
    """40 x 52 frames (35-pixel views resized to 8) in eval.py's layout: Windows frames
    [T, H, W, c] of decode_eval (flow: 2L planes of one channel), cut by model_input."""
    _, loaded, _, channels = exported
    frames = _textured(40, 52, channels)
    served = loaded.signatures[export.SAMPLE_SIGNATURE](frames=tf.constant(frames))
    stack = frames[np.newaxis] if channels == 3 else np.moveaxis(frames, -1, 0)[..., np.newaxis]
    views = crops.eval_crop_params([40, 52], 0.875, 10)
    windows = resample.Windows(
        tf.constant(stack[np.newaxis]), views.boxes()[tf.newaxis], views.flip[tf.newaxis]
    )
    cut = resample.model_input(windows, 8, flow=channels > 3)
    expected = loaded.signatures[export.FLOAT_SIGNATURE](frames=cut)["probabilities"].numpy()
    np.testing.assert_allclose(served[export.SERVING_OUTPUT].numpy(), expected, atol=1e-6)


def test_sample_views_signature_cuts_the_boxes_given(exported):
    """One 8 x 8 box mirrored, one 16 x 16 box halved: a half-pixel-centre bilinear 2x
    reduction is the mean of each 2 x 2 block."""
    model, loaded, _, channels = exported
    frames = _textured(20, 26, channels)
    boxes, flips = [[5, 9, 8, 8], [2, 4, 16, 16]], [True, False]
    served = loaded.signatures[export.SAMPLE_VIEWS_SIGNATURE](
        frames=tf.constant(frames), boxes=tf.constant(boxes), flips=tf.constant(flips)
    )
    mirrored = _mirrored(frames[5:13, 9:17], channels > 3)
    halved = frames[2:18, 4:20].astype(np.float32).reshape(8, 2, 8, 2, channels).mean((1, 3))
    expected = model(np.stack([mirrored, halved]), training=False).numpy()
    np.testing.assert_allclose(
        served[export.SERVING_OUTPUT].numpy(), expected, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(served[export.BOXES].numpy(), boxes)


def test_sample_signatures_compile_the_cut_with_xla(exported):
    """The reloaded graph: every uint8 gather (the cut) lies in a function XLA must compile."""
    _, loaded, _, _ = exported
    for name in (export.SAMPLE_SIGNATURE, export.SAMPLE_VIEWS_SIGNATURE):
        outside, inside = uint8_gathers(loaded.signatures[name])
        assert inside and not outside, (name, outside)


@pytest.mark.parametrize(
    "frames_hw, boxes, flips, message",
    [
        ((300, 20), [[0, 0, 8, 8]], [False], r"larger than export.json frame_size \[256, 340\]"),
        ((20, 26), [[15, 0, 8, 8]], [False], "a box .* is empty or outside the frames"),
        ((20, 26), [[0, 0, 0, 8]], [False], "a box .* is empty or outside the frames"),
        ((20, 26), [[0, 0, 8, 8]], [False, True], "give one flip per box"),
        ((20, 26), np.zeros([0, 4], np.int32), [], "no views: give at least one box"),
    ],
)
def test_sample_views_signature_refuses_views_it_cannot_cut(
    exported, frames_hw, boxes, flips, message
):
    _, loaded, _, channels = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[export.SAMPLE_VIEWS_SIGNATURE](
            frames=tf.constant(_textured(*frames_hw, channels)),
            boxes=tf.constant(boxes, tf.int32),
            flips=tf.constant(flips, tf.bool),
        )
