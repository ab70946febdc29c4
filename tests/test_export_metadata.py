"""Tests of export.json: the flow algorithm of a source, the metadata of a config and a
manifest, its JSON round trip and the evaluation SampleSpec it gives."""

import dataclasses

import pytest
from conftest import hand_made_metadata

from configs import demo_spatial, demo_temporal
from evaluation import export_metadata
from tfrecords import schema, testdata


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
    assert export_metadata.flow_algorithm_of_source(source) == algorithm


@pytest.mark.parametrize("source", ["videos/lucas-kanade", "videos", "archives", ""])
def test_unknown_source_is_refused(source):
    with pytest.raises(ValueError, match="expected 'frames' or 'videos/"):
        export_metadata.flow_algorithm_of_source(source)


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
    metadata = export_metadata.metadata_from_config(
        config, str(tmp_path), manifest, "ckpt-9 (step 9)"
    )
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
    assert export_metadata.ExportMetadata.from_json(metadata.to_json()) == metadata
    spec = metadata.sample_spec(num_samples=2, num_crops=1)
    assert (spec.eval_num_samples, spec.eval_num_crops, spec.stream.name) == (2, 1, stream)
    assert spec.length == (1 if stream == "spatial" else 10)


@pytest.mark.parametrize(
    "num_samples, num_crops, message",
    [(0, None, "num_samples=0"), (None, 3, "num_crops=3: use 1, 5 or 10")],
)
def test_sample_spec_overrides_are_checked(num_samples, num_crops, message):
    with pytest.raises(ValueError, match=message):
        hand_made_metadata().sample_spec(num_samples, num_crops)
