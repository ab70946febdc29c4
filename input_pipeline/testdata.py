"""Small data directories (shards + manifest) written directly, for tests and the benchmark.

Independent of the Beam job: records are written with `tfrecords.schema.encode_video` and the
manifest with `tfrecords.manifest.write_manifest`, so a reader test can choose every pixel
(e.g. frame i painted with value i makes the sampled indices readable from the output).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfrecords import manifest as manifest_lib
from tfrecords import schema


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """uint8 [H, W, 3] (RGB) or [H, W] / [H, W, 1] (grayscale) -> JPEG bytes (4:2:0 chroma)."""
    pixels = np.asarray(image, np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return tf.io.encode_jpeg(pixels, quality=quality).numpy()


def painted_jpeg(value: int, height: int, width: int, channels: int) -> bytes:
    """A JPEG whose every pixel is `value` (decodes exactly: a flat image has no AC terms)."""
    return encode_jpeg(np.full([height, width, channels], value, np.uint8), quality=100)


def make_video(
    video_id: str,
    label: int,
    rgb: Sequence[bytes],
    flow_x: Sequence[bytes],
    flow_y: Sequence[bytes],
    frame_hw: tuple[int, int],
) -> schema.Video:
    """A schema.Video of class `class<label>` with RGB and flow frames of size `frame_hw`."""
    height, width = frame_hw
    return schema.Video(
        video_id=video_id,
        class_name=f"class{label}",
        label=label,
        group=1,
        clip=1,
        rgb=list(rgb),
        flow_x=list(flow_x),
        flow_y=list(flow_y),
        height=height,
        width=width,
        flow_height=height,
        flow_width=width,
        source="frames",
    )


def write_data_dir(
    data_dir: str,
    videos: Mapping[str, Sequence[schema.Video]],
    num_classes: int,
    num_shards: int = 1,
) -> manifest_lib.Manifest:
    """Writes each subset's videos round-robin into `num_shards` shards, then the manifest.

    Args:
      data_dir: output directory (created).
      videos: subset name -> its videos, in order (shard s holds videos s, s + n, ...).
      num_classes: class names are `class0` .. `class<num_classes - 1>`.
      num_shards: shards per subset.

    Returns:
      The manifest written to `data_dir/manifest.json`.
    """
    tf.io.gfile.makedirs(data_dir)
    shards = []
    for subset, subset_videos in videos.items():
        for s in range(num_shards):
            name = f"{subset}-{s:05d}-of-{num_shards:05d}.tfrecord"
            path = posixpath.join(data_dir, name)
            chunk = subset_videos[s::num_shards]
            with tf.io.TFRecordWriter(path) as writer:
                for video in chunk:
                    writer.write(schema.encode_video(video))
            size = tf.io.gfile.stat(path).length
            shards.append(manifest_lib.Shard(name, subset, len(chunk), size))
    counts = {subset: len(v) for subset, v in videos.items()}
    manifest = manifest_lib.Manifest(
        schema_version=schema.SCHEMA_VERSION,
        split=1,
        source="frames",
        class_names=[f"class{i}" for i in range(num_classes)],
        listed=dict(counts),
        written=dict(counts),
        failed={subset: 0 for subset in videos},
        per_class={
            subset: {
                f"class{i}": sum(v.label == i for v in subset_videos) for i in range(num_classes)
            }
            for subset, subset_videos in videos.items()
        },
        shards=shards,
        command_line="input_pipeline.testdata",
    )
    manifest_lib.write_manifest(data_dir, manifest)
    return manifest
