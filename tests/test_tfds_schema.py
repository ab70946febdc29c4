"""Tests of the TFDS layout: examples parse into the SequenceExample reader's dict."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import eager_and_in_tf_data

from tfrecords import manifest as manifest_lib
from tfrecords import schema, tfds_schema

CLASSES = ["Archery", "YoYo"]


def _video(num_rgb: int = 7) -> schema.Video:
    return schema.Video(
        video_id="v_YoYo_g01_c02",
        class_name="YoYo",
        label=1,
        group=1,
        clip=2,
        rgb=[f"rgb{i}".encode() for i in range(num_rgb)],
        flow_x=[f"x{i}".encode() for i in range(num_rgb - 1)],
        flow_y=[f"y{i}".encode() for i in range(num_rgb - 1)],
        height=256,
        width=340,
        flow_height=256,
        flow_width=340,
        source="frames",
    )


def _serialize(example: dict, modality: str) -> bytes:
    features = tfds_schema.features(modality)
    features[schema.LABEL].names = CLASSES
    return features.serialize_example(example)


@pytest.mark.parametrize("modality", schema.MODALITIES)
def test_examples_parse_to_what_the_sequence_example_records_parse_to(modality):
    video = _video()
    examples = tfds_schema.encode_examples(video, modality, num_chunks=3)
    records = schema.encode_records(video, 3)[modality]
    assert len(examples) == len(records) == (3 if modality == schema.RGB_MODALITY else 1)
    parse = tfds_schema.example_parser(modality, CLASSES)
    for example, record in zip(examples, records, strict=True):
        theirs = eager_and_in_tf_data(
            lambda r: parse(r, modality), tf.constant(_serialize(example, modality))
        )
        ours = schema.parse_record(tf.constant(record), modality)
        assert sorted(theirs) == sorted(ours)
        for key, value in ours.items():
            np.testing.assert_array_equal(theirs[key], value.numpy(), err_msg=key)
            assert theirs[key].dtype == value.dtype.as_numpy_dtype, key


def test_rgb_chunks_hold_the_strided_frames_as_given():
    examples = tfds_schema.encode_examples(_video(7), schema.RGB_MODALITY, num_chunks=3)
    assert [e[schema.RGB] for e in examples] == [
        [b"rgb0", b"rgb3", b"rgb6"],
        [b"rgb1", b"rgb4"],
        [b"rgb2", b"rgb5"],
    ]
    assert {e[schema.VIDEO_FRAMES] for e in examples} == {7}


def test_an_example_without_frames_is_an_error_not_an_empty_video():
    example = tfds_schema.encode_examples(_video(), schema.FLOW_MODALITY, 1)[0]
    example[schema.FLOW_X] = []
    parse = tfds_schema.example_parser(schema.FLOW_MODALITY, CLASSES)
    serialized = tf.constant(_serialize(example, schema.FLOW_MODALITY))
    with pytest.raises(tf.errors.InvalidArgumentError, match="without flow_x frames"):
        parse(serialized, schema.FLOW_MODALITY)
    with pytest.raises(ValueError, match="reads 'flow'"):
        parse(serialized, schema.RGB_MODALITY)


def test_bad_inputs_name_the_value():
    with pytest.raises(ValueError, match="modality 'depth'"):
        tfds_schema.features("depth")
    with pytest.raises(ValueError, match="flow x has 1 frames"):
        tfds_schema.encode_examples(
            schema.Video(**{**_video().__dict__, "flow_x": [b"x"]}), schema.RGB_MODALITY, 1
        )


def test_config_names_and_metadata():
    assert tfds_schema.builder_config_name(2, "flow") == "split2_flow"
    manifest = manifest_lib.Manifest(
        schema_version=schema.SCHEMA_VERSION,
        split=1,
        source="frames",
        class_names=CLASSES,
        listed={"test": 3},
        written={"test": 2},
        failed={"test": 1},
        per_class={"test": {"YoYo": 2}},
        shards=[],
        rgb_chunks={"test": 1},
        max_frame_hw={"rgb": [256, 340], "flow": [128, 170]},
        command_line="tfds build",
    )
    metadata = tfds_schema.manifest_metadata(manifest, "flow")
    assert sorted(metadata) == sorted(tfds_schema.METADATA_KEYS)
    assert metadata["max_frame_hw"] == {"flow": [128, 170]}
    assert metadata["flow_bound"] == 20.0 and metadata["modality"] == "flow"
    assert (metadata["listed"], metadata["written"], metadata["failed"]) == (
        {"test": 3},
        {"test": 2},
        {"test": 1},
    )
