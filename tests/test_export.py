"""Tests of the SavedModel export: signatures, same probabilities as Keras, export.json."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import demo_spatial, demo_temporal
from evaluation import export
from tfrecords import schema, testdata

NAMES = ["ApplyEyeMakeup", "Archery", "YoYo"]


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
    return export.ExportMetadata(
        stream="temporal" if temporal else "spatial",
        image_size=8,
        num_flow_frames=channels // 2 if temporal else 10,
        eval_num_samples=25,
        eval_num_crops=10,
        eval_crop_scale=0.875,
        jpeg_dct_method="INTEGER_FAST",
        frame_size=(256, 340),
        flow_algorithm="tvl1",
        flow_bound=schema.FLOW_BOUND,
        class_names=tuple(class_names),
        schema_version=schema.SCHEMA_VERSION,
        source="frames",
        dataset="ucf101",
        checkpoint="hand-made",
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
    metadata = export.read_metadata(path)
    assert metadata == _metadata(channels)
    assert metadata.num_channels == channels


def test_output_width_must_match_class_names(tmp_path):
    with pytest.raises(ValueError, match="3 outputs but the manifest lists 2"):
        export.export_saved_model(_model(3), str(tmp_path / "m"), _metadata(3, NAMES[:2]))


@pytest.mark.parametrize(
    "source, algorithm",
    [
        ("frames", "tvl1"),
        ("videos/dis", "dis"),
        ("videos/tvl1", "tvl1"),
        ("videos/farneback", "farneback"),
    ],
)
def test_flow_algorithm_of_source(source, algorithm):
    assert export.flow_algorithm_of_source(source) == algorithm


@pytest.mark.parametrize("source", ["videos/lucas-kanade", "videos", "archives", ""])
def test_unknown_source_is_refused(source):
    with pytest.raises(ValueError, match="expected 'frames' or 'videos/"):
        export.flow_algorithm_of_source(source)


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_metadata_from_the_config_and_the_manifest(stream, tmp_path):
    config = (demo_spatial if stream == "spatial" else demo_temporal).get_config()
    config.data.eval_num_samples = 7
    flow = [testdata.painted_jpeg(128, 20, 30, 1)]
    video = dataclasses.replace(
        testdata.make_video(
            "v_a", 0, [testdata.painted_jpeg(0, 24, 32, 3)] * 2, flow, flow, (24, 32)
        ),
        flow_height=20,
        flow_width=30,
    )
    manifest = testdata.write_data_dir(str(tmp_path), {"test": [video]}, num_classes=2)
    manifest = dataclasses.replace(manifest, source="videos/dis")
    metadata = export.metadata_from_config(config, manifest, "ckpt-9 (step 9)")
    assert metadata.stream == stream
    assert (metadata.image_size, metadata.num_flow_frames) == (64, 10)
    assert (metadata.eval_num_samples, metadata.eval_num_crops) == (7, 10)
    assert metadata.eval_crop_scale == 0.875 and metadata.jpeg_dct_method == "INTEGER_FAST"
    # The stream's own modality's frame size.
    assert metadata.frame_size == ((24, 32) if stream == "spatial" else (20, 30))
    assert (metadata.flow_algorithm, metadata.source) == ("dis", "videos/dis")
    assert metadata.dataset == "ucf101" and metadata.checkpoint == "ckpt-9 (step 9)"
    assert metadata.flow_bound == 20.0 and metadata.schema_version == schema.SCHEMA_VERSION
    assert metadata.class_names == ("class0", "class1")
    assert metadata.num_channels == (3 if stream == "spatial" else 20)
    assert export.ExportMetadata.from_json(metadata.to_json()) == metadata
    spec = metadata.sample_spec(num_samples=2, num_crops=1)
    assert (spec.eval_num_samples, spec.eval_num_crops, spec.stream.name) == (2, 1, stream)
    assert spec.length == (1 if stream == "spatial" else 10)


@pytest.mark.parametrize(
    "num_samples, num_crops, message",
    [(0, None, "num_samples=0"), (None, 3, "num_crops=3: use 1, 5 or 10")],
)
def test_sample_spec_overrides_are_checked(num_samples, num_crops, message):
    with pytest.raises(ValueError, match=message):
        _metadata(3).sample_spec(num_samples, num_crops)


def test_read_metadata_names_what_is_not_an_export(exported, tmp_path):
    _, _, path, _ = exported
    with pytest.raises(export.ExportError, match="no such directory"):
        export.read_metadata(str(tmp_path / "missing"))
    with pytest.raises(export.ExportError, match=r"not an export \(no saved_model.pb\)"):
        export.read_metadata(str(tmp_path))
    copy = tmp_path / "copy"
    tf.io.gfile.makedirs(str(copy))
    tf.io.gfile.copy(f"{path}/saved_model.pb", str(copy / "saved_model.pb"))
    with pytest.raises(export.ExportError, match="export.json: not found"):
        export.read_metadata(str(copy))
    (copy / "export.json").write_text("{not json")
    with pytest.raises(export.ExportError, match="not the export.json of this project"):
        export.read_metadata(str(copy))
    fields = json.loads(tf.io.gfile.GFile(f"{path}/export.json").read())
    (copy / "export.json").write_text(json.dumps({**fields, "format_version": 99}))
    with pytest.raises(export.ExportError, match="format version 99"):
        export.read_metadata(str(copy))
