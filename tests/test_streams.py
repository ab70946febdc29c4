"""Tests of tfrecords/streams.py: the one definition of each stream."""

import dataclasses

import pytest

from tfrecords import schema, streams


def test_the_two_streams_in_order():
    assert list(streams.STREAMS) == ["spatial", "temporal"]
    assert streams.STREAMS["spatial"] is streams.SPATIAL
    assert streams.STREAMS["temporal"] is streams.TEMPORAL
    with pytest.raises(TypeError):
        streams.STREAMS["other"] = streams.SPATIAL  # read-only


def test_spatial_reads_one_rgb_frame_of_three_channels():
    spatial = streams.SPATIAL
    assert spatial.modality == schema.RGB_MODALITY and not spatial.flow
    assert spatial.frame_keys == (schema.RGB,)
    assert spatial.frame_channels == 3
    for length in (1, 10):
        assert spatial.sample_length(length) == 1
        assert spatial.frames_per_sample(length) == 1
        assert spatial.channels(length) == 3


def test_temporal_reads_l_flow_frames_as_2l_planes():
    temporal = streams.TEMPORAL
    assert temporal.modality == schema.FLOW_MODALITY and temporal.flow
    assert temporal.frame_keys == (schema.FLOW_X, schema.FLOW_Y)
    assert temporal.frame_channels == 1
    assert [temporal.sample_length(n) for n in (1, 5, 10)] == [1, 5, 10]
    assert [temporal.frames_per_sample(n) for n in (1, 5, 10)] == [2, 10, 20]
    assert [temporal.channels(n) for n in (1, 5, 10)] == [2, 10, 20]


def test_each_modality_is_read_by_one_stream():
    modalities = [s.modality for s in streams.STREAMS.values()]
    assert sorted(modalities) == sorted(schema.MODALITIES)


def test_streams_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        streams.SPATIAL.frame_channels = 1


def test_get():
    assert streams.get("spatial") is streams.SPATIAL
    assert streams.get("temporal") is streams.TEMPORAL


@pytest.mark.parametrize("name", ["flow", "Spatial", ""])
def test_get_an_unknown_stream_names_the_config_key_and_the_choices(name):
    with pytest.raises(ValueError, match=r"config\.stream=.*use one of \('spatial', 'temporal'\)"):
        streams.get(name)
