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


def _parse_both(serialized: bytes, modality: str) -> list[dict]:
    eager = schema.parse_record(tf.constant(serialized), modality)
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors(serialized).map(lambda r: schema.parse_record(r, modality))
        )
    )
    return [eager, mapped]


def test_flow_record_round_trip_eager_and_in_tf_data():
    for parsed in _parse_both(schema.encode_flow(_video()), schema.FLOW_MODALITY):
        assert parsed[schema.VIDEO_ID].numpy() == b"v_YoYo_g01_c02"
        assert parsed[schema.LABEL].numpy() == 100
        assert parsed[schema.CLASS_NAME].numpy() == b"YoYo"
        assert parsed[schema.CHUNK].numpy() == 0 and parsed[schema.NUM_CHUNKS].numpy() == 1
        assert parsed[schema.VIDEO_FRAMES].numpy() == 3
        assert list(parsed[schema.FLOW_X].numpy()) == [b"x0", b"x1", b"x2"]
        assert list(parsed[schema.FLOW_Y].numpy()) == [b"y0", b"y1", b"y2"]
        assert schema.RGB not in parsed


def test_rgb_chunks_are_strided_and_hold_every_frame_once():
    video = _video(num_rgb=10, num_flow=9)
    records = schema.encode_rgb_chunks(video, 4)
    assert len(records) == 4
    held = []
    for j, record in enumerate(records):
        for parsed in _parse_both(record, schema.RGB_MODALITY):
            assert parsed[schema.CHUNK].numpy() == j and parsed[schema.NUM_CHUNKS].numpy() == 4
            assert parsed[schema.VIDEO_FRAMES].numpy() == 10
            assert schema.FLOW_X not in parsed
        frames = [f.decode() for f in parsed[schema.RGB].numpy()]
        assert frames == [f"rgb{i}" for i in range(j, 10, 4)]  # j, j+4, j+8
        held.extend(frames)
    assert sorted(held, key=lambda f: int(f[3:])) == [f"rgb{i}" for i in range(10)]
    whole = schema.parse_record(tf.constant(schema.encode_rgb_chunks(video, 1)[0]), "rgb")
    assert len(whole[schema.RGB].numpy()) == 10


def test_more_chunks_than_frames_still_gives_k_records():
    assert [schema.chunk_frame_indices(3, 5, j) for j in range(5)] == [[0], [1], [2], [0], [1]]
    assert schema.chunk_frame_indices(10, 4, 2) == [2, 6]
    assert len(schema.encode_rgb_chunks(_video(num_rgb=3, num_flow=2), 5)) == 5
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="rgb_chunks="):
            schema.encode_rgb_chunks(_video(), bad)


def test_unknown_modality_refused():
    with pytest.raises(ValueError, match="modality 'depth'"):
        schema.parse_record(tf.constant(schema.encode_flow(_video())), "depth")


def test_mediasequence_keys_readable_by_plain_parsers():
    """DMVR / Model Garden style readers find the RGB stream and labels under MediaSequence keys."""
    example = tf.train.SequenceExample.FromString(schema.encode_rgb_chunks(_video(), 1)[0])
    context = example.context.feature
    assert context["clip/media_id"].bytes_list.value == [b"v_YoYo_g01_c02"]
    assert context["clip/label/index"].int64_list.value == [100]
    assert context["clip/label/string"].bytes_list.value == [b"YoYo"]
    assert context["image/height"].int64_list.value == [256]
    assert context["image/format"].bytes_list.value == [b"JPEG"]
    lists = example.feature_lists.feature_list
    frames = lists["image/encoded"].feature
    assert [f.bytes_list.value[0] for f in frames] == [b"rgb0", b"rgb1", b"rgb2", b"rgb3"]
    # 25 fps: frame i at i * 40,000 microseconds.
    assert [f.int64_list.value[0] for f in lists["image/timestamp"].feature] == [
        0,
        40000,
        80000,
        120000,
    ]
    flow = tf.train.SequenceExample.FromString(schema.encode_flow(_video()))
    assert flow.context.feature["FORWARD_FLOW/quantization_bound"].float_list.value == [20.0]
    assert "image/encoded" not in flow.feature_lists.feature_list


def test_records_are_byte_stable():
    assert schema.encode_records(_video(), 2) == schema.encode_records(_video(), 2)


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
