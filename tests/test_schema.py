"""Tests of the record schema: round trip, counts rule, flow quantization known answers."""

import numpy as np
import pytest
import tensorflow as tf

from tfrecords import schema


def _video(num_rgb: int = 4, num_flow: int = 3) -> schema.Video:
    return schema.Video(
        video_id="v_YoYo_g01_c02",
        class_name="YoYo",
        label=100,
        group=1,
        clip=2,
        rgb=[f"rgb{i}".encode() for i in range(num_rgb)],
        flow_x=[f"x{i}".encode() for i in range(num_flow)],
        flow_y=[f"y{i}".encode() for i in range(num_flow)],
        height=256,
        width=340,
        flow_height=256,
        flow_width=340,
        source="frames",
    )


def test_round_trip_eager_and_in_tf_data():
    serialized = schema.encode_video(_video())
    eager = schema.parse_video(tf.constant(serialized))
    mapped = next(iter(tf.data.Dataset.from_tensors(serialized).map(schema.parse_video)))
    for parsed in (eager, mapped):
        assert parsed[schema.VIDEO_ID].numpy() == b"v_YoYo_g01_c02"
        assert parsed[schema.LABEL].numpy() == 100
        assert parsed[schema.CLASS_NAME].numpy() == b"YoYo"
        assert parsed[schema.NUM_RGB].numpy() == 4
        assert parsed[schema.NUM_FLOW].numpy() == 3
        assert list(parsed[schema.RGB].numpy()) == [b"rgb0", b"rgb1", b"rgb2", b"rgb3"]
        assert list(parsed[schema.FLOW_X].numpy()) == [b"x0", b"x1", b"x2"]
        assert list(parsed[schema.FLOW_Y].numpy()) == [b"y0", b"y1", b"y2"]


def test_parse_only_the_stream_needed():
    serialized = tf.constant(schema.encode_video(_video()))
    spatial = schema.parse_video(serialized, flow=False)
    temporal = schema.parse_video(serialized, rgb=False)
    assert schema.RGB in spatial and schema.FLOW_X not in spatial
    assert schema.RGB not in temporal and schema.FLOW_Y in temporal


def test_mediasequence_keys_readable_by_plain_parsers():
    """DMVR / Model Garden style readers find the RGB stream and labels under MediaSequence keys."""
    example = tf.train.SequenceExample.FromString(schema.encode_video(_video()))
    context = example.context.feature
    assert context["clip/media_id"].bytes_list.value == [b"v_YoYo_g01_c02"]
    assert context["clip/label/index"].int64_list.value == [100]
    assert context["clip/label/string"].bytes_list.value == [b"YoYo"]
    assert context["image/height"].int64_list.value == [256]
    assert context["FORWARD_FLOW/quantization_bound"].float_list.value == [20.0]
    frames = example.feature_lists.feature_list["image/encoded"].feature
    assert [f.bytes_list.value[0] for f in frames] == [b"rgb0", b"rgb1", b"rgb2", b"rgb3"]


@pytest.mark.parametrize(
    "rgb, flow_x, flow_y, message",
    [
        (1, 0, 0, "at least 2"),
        (4, 3, 2, "flow x has 3 frames but flow y has 2"),
        (4, 4, 4, "need 3 flow frames"),
    ],
)
def test_frame_count_rule(rgb, flow_x, flow_y, message):
    with pytest.raises(ValueError, match=message):
        schema.check_frame_counts(rgb, flow_x, flow_y)


def test_quantization_known_answers():
    flow = np.array([-25.0, -20.0, 0.0, 0.1, 10.0, 20.0, 30.0])
    # round(255 * (clip(x) + 20) / 40): 0, 0, 127.5 -> 128, 128.1 -> 128, 191.25 -> 191, 255
    expected = np.array([0, 0, 128, 128, 191, 255, 255], dtype=np.uint8)
    np.testing.assert_array_equal(schema.quantize_flow(flow), expected)


def test_dequantize_inverts_quantize_within_half_a_step():
    flow = np.linspace(-20, 20, 1001, dtype=np.float32)
    back = schema.dequantize_flow(tf.constant(schema.quantize_flow(flow))).numpy()
    assert np.max(np.abs(back - flow)) <= 0.5 * 40 / 255 + 1e-5
    assert schema.dequantize_flow(tf.constant([0, 255], tf.uint8)).numpy().tolist() == [
        -20.0,
        20.0,
    ]


def test_flip_in_quantized_units_negates_flow_exactly():
    q = tf.range(256, dtype=tf.int32)
    np.testing.assert_allclose(
        schema.dequantize_flow(255 - q).numpy(), -schema.dequantize_flow(q).numpy(), atol=1e-5
    )
