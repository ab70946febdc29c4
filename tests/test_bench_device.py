"""bench.device: the production step at tiny sizes on the CPU, and its placement census."""

import re
import subprocess
import sys

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

from bench import device
from input_pipeline import datasets

UCF101_SCALES = (1.0, 0.875, 0.75, 0.66)


def _node(graph, op: str, where: str, **attrs) -> None:
    node = graph.node.add(name=f"{op}_{len(graph.node)}", op=op)
    node.device = f"/job:localhost/replica:0/task:0/device:{where}"
    for key, value in attrs.items():
        if isinstance(value, bool):
            node.attr[key].b = value
        else:
            node.attr[key].type = value.as_datatype_enum


def test_placement_counts_devices_compiled_calls_and_host_fallback():
    metadata = config_pb2.RunMetadata()
    graph = metadata.function_graphs.add().partition_graphs.add()
    _node(graph, "IteratorGetNext", "CPU:0")
    _node(graph, "Const", "CPU:0")
    _node(graph, "GatherV2", "CPU:0", Tparams=tf.uint8)
    _node(graph, "GatherV2", "CPU:0", Tparams=tf.float32)
    _node(graph, "Conv2D", "GPU:0")
    _node(graph, "PartitionedCall", "GPU:0", _XlaMustCompile=True)
    assert device.placement(metadata, "GPU") == device.Placement(
        ops={"CPU:0": 4, "GPU:0": 2},
        compiled={"GPU:0": 1},
        host_fallback={"GatherV2[uint8]": 1, "GatherV2": 1},
    )
    # Without an accelerator the host is the device: nothing falls back.
    assert device.placement(metadata, "CPU").host_fallback == {}


def test_window_buffer_side_is_the_largest_crop_unless_its_planes_alias():
    # UCF-101's 340x256 frames: the largest crop is 256; 256 * 256 bytes is 16 x 4 KiB, so
    # the buffer grows by 8 (the 264 the README's bytes per sample are computed from).
    assert datasets.window_buffer_side((256, 340), UCF101_SCALES) == 264
    assert datasets.window_buffer_side((240, 320), UCF101_SCALES) == 240  # 57,600 B planes
    assert datasets.window_buffer_side((256, 340), (0.875,)) == 224  # 50,176 B planes


def test_bench_device_runs_the_step_at_tiny_sizes():
    command = [
        sys.executable, "-m", "bench.device", "--image_size=32", "--frame_hw=40,48",
        "--batch_size=2", "--steps=2", "--warmup_steps=1", "--model=tiny",
    ]  # fmt: skip
    stdout = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    lines = stdout.stdout.strip().splitlines()
    assert re.fullmatch(r"bench\.device: TensorFlow \S+; accelerator CPU: .+", lines[0])
    for stream, frames, channels in (("temporal", 20, 1), ("spatial", 1, 3)):
        ours = [line for line in lines if line.startswith(f"{stream}: ")]
        # 40 x 40 buffer (the largest 1.0-scale crop of 40 x 48 frames), int32 box, bool flip.
        shipped = f"{frames * 40 * 40 * channels + 4 * 4 + 1:,} bytes"
        assert ours[0].endswith(
            f"frames uint8 [{frames}, 40, 40, {channels}] + boxes int32 [1, 4] + flips bool [1]"
            f" = {shipped}"
        ), ours[0]
        assert re.fullmatch(rf"{stream}: 2 steps in .* samples/s; loss \S+ -> \S+", ours[1])
        assert re.fullmatch(rf"{stream}: peak memory CPU:0 .*", ours[2])
        assert re.fullmatch(rf"{stream}: ops placed: CPU:0 \d+; XLA-compiled calls: .+", ours[3])
        assert ours[4] == f"{stream}: host fallback: n/a (no accelerator: the host is the device)"
    assert re.fullmatch(r"device: temporal=\d+\.\d spatial=\d+\.\d \(samples/s, CPU\)", lines[-1])
