"""The small data directories tests and the benchmark write are readable by the manifest reader."""

import numpy as np
import tensorflow as tf

from tfrecords import manifest as manifest_lib
from tfrecords import schema, testdata


def test_painted_frames_decode_exactly():
    for channels in (1, 3):
        decoded = tf.io.decode_jpeg(testdata.painted_jpeg(123, 16, 24, channels)).numpy()
        assert decoded.shape == (16, 24, channels) and np.all(decoded == 123)


def test_write_data_dir_round_robins_records_into_shards_per_modality(tmp_path):
    frame = testdata.painted_jpeg(1, 8, 8, 1)
    videos = [
        testdata.make_video(f"v_A_g01_c0{i}", i % 2, [frame] * 3, [frame] * 2, [frame] * 2, (8, 8))
        for i in range(1, 6)
    ]
    testdata.write_data_dir(
        str(tmp_path),
        {"train": videos, "test": videos[:1]},
        2,
        num_shards=2,
        rgb_chunks={"train": 2},
    )
    manifest = manifest_lib.read_manifest(str(tmp_path))
    assert manifest.written == {"train": 5, "test": 1}
    assert manifest.per_class["train"] == {"class0": 2, "class1": 3}
    assert manifest.rgb_chunks == {"train": 2, "test": 1}
    assert manifest.max_frame_hw == {"rgb": [8, 8], "flow": [8, 8]}

    def ids(modality: str) -> list[list[tuple[bytes, int]]]:
        return [
            [
                (parsed[schema.VIDEO_ID].numpy(), int(parsed[schema.CHUNK]))
                for parsed in (
                    schema.parse_record(r, modality) for r in tf.data.TFRecordDataset(path)
                )
            ]
            for path in manifest.shard_paths(str(tmp_path), "train", modality)
        ]

    assert ids("flow") == [
        [(b"v_A_g01_c01", 0), (b"v_A_g01_c03", 0), (b"v_A_g01_c05", 0)],
        [(b"v_A_g01_c02", 0), (b"v_A_g01_c04", 0)],
    ]
    # Two chunks per video, in video then chunk order, round-robin: a video's chunks split.
    assert ids("rgb") == [
        [(f"v_A_g01_c0{i}".encode(), 0) for i in range(1, 6)],
        [(f"v_A_g01_c0{i}".encode(), 1) for i in range(1, 6)],
    ]
