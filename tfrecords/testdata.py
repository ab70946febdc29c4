"""Small data directories (shards + manifest) written directly, for tests and the benchmark.

Fixtures beside the schema they fabricate (shard names: `manifest.shard_name`), independent
of the Beam job: records are written with `tfrecords.schema.encode_records` and the
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


def textured(height: int, width: int, channels: int = 1, phase: float = 0.0) -> np.ndarray:
    """uint8 [height, width, channels]: a diagonal gradient under two sine gratings.

    Value 60 + 0.2 x + 0.15 y + 35 sin(2 pi x / 13 + 1.3 ch + phase) + 25 sin(2 pi y / 17 -
    0.7 ch + phase), rounded and clipped: a one-pixel shift moves a pixel by up to ~17 levels,
    a mirror changes it everywhere (the gradient is not symmetric), and channels or planes of
    different `phase` differ, so a test on it sees an offset, a resize, a flip or a
    channel-order error.
    """
    y, x, ch = np.meshgrid(np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    gratings = 35 * np.sin(2 * np.pi * x / 13 + 1.3 * ch + phase) + 25 * np.sin(
        2 * np.pi * y / 17 - 0.7 * ch + phase
    )
    return np.clip(np.round(60 + 0.2 * x + 0.15 * y + gratings), 0, 255).astype(np.uint8)


def textured_jpeg(height: int, width: int, channels: int = 1, phase: float = 0.0) -> bytes:
    """`textured` as a quality-95 JPEG with full-resolution chroma (4:4:4).

    Without chroma subsampling a window decoded alone (`tf.image.decode_and_crop_jpeg`) equals
    the same window of the whole decoded frame, so a test can cut its reference from the frame
    decoded by another decoder.
    """
    pixels = textured(height, width, channels, phase)
    return tf.io.encode_jpeg(pixels, quality=95, chroma_downsampling=False).numpy()


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
    rgb_chunks: Mapping[str, int] | None = None,
) -> manifest_lib.Manifest:
    """Writes each subset's videos round-robin into `num_shards` shards per modality + manifest.

    Args:
      data_dir: output directory (created).
      videos: subset name -> its videos, in order (shard s holds records s, s + n, ... of the
        subset's records in video order, a video's RGB chunks in chunk order).
      num_classes: class names are `class0` .. `class<num_classes - 1>`.
      num_shards: shards per subset and modality.
      rgb_chunks: subset -> RGB records per video (strided chunks); None or a missing subset
        writes whole videos (1).

    Returns:
      The manifest written to `data_dir/manifest.json`.
    """
    tf.io.gfile.makedirs(data_dir)
    chunks = {subset: (rgb_chunks or {}).get(subset, 1) for subset in videos}
    shards = []
    for subset, subset_videos in videos.items():
        by_modality: dict[str, list[bytes]] = {m: [] for m in schema.MODALITIES}
        for video in subset_videos:
            for modality, records in schema.encode_records(video, chunks[subset]).items():
                by_modality[modality].extend(records)
        for modality, records in by_modality.items():
            for s in range(num_shards):
                name = manifest_lib.shard_name(subset, modality, s, num_shards)
                path = posixpath.join(data_dir, name)
                chunk = records[s::num_shards]
                with tf.io.TFRecordWriter(path) as writer:
                    for record in chunk:
                        writer.write(record)
                size = tf.io.gfile.stat(path).length
                shards.append(manifest_lib.Shard(name, subset, modality, len(chunk), size))
    all_videos = [v for subset_videos in videos.values() for v in subset_videos]
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
        rgb_chunks=chunks,
        max_frame_hw={
            m: [max((v.frame_hw(m)[i] for v in all_videos), default=0) for i in (0, 1)]
            for m in schema.MODALITIES
        },
        command_line="tfrecords.testdata",
    )
    manifest_lib.write_manifest(data_dir, manifest)
    return manifest
