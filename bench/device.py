r"""The production train step on the accelerator TensorFlow sees, fed synthetic uint8 windows.

    python -m bench.device                      # a GPU if TensorFlow sees one, else the CPU
    python -m bench.device --strategy=tpu       # on a TPU VM
    python -m bench.device --image_size=32 --frame_hw=40,48 --batch_size=2 --steps=2 \
        --model=tiny                            # seconds on a CPU (tests/test_device_bench.py)

Needs nothing but the venv: no data, no download. For each of `--streams` it builds what
`training.loop.train` builds under the strategy — the model of the real config
(configs/temporal.py, configs/spatial.py) at `--image_size`, with random weights (the same
compute as ImageNet ones, nothing to download), in its longer fine-tuning phase (the layers
after `config.train.finetune_after_layer` train), the optimizer and its schedule — and the
production step, `training.loop.make_train_fn`, with `resample.model_input` as the
preprocess_fn, as `training.experiment` passes it. The input is one batch of uint8
`resample.Windows` with the shapes the train pipeline ships: frames [b, T, side, side, c]
(side = `datasets.window_buffer_side` of `--frame_hw`, the largest frame of the data), one
box and flip per sample drawn by `crops.random_crop_params` as `samples.decode_train` draws
them; `tf.data.Dataset.from_tensors(...).repeat()` through
`strategy.distribute_datasets_from_function`, so what crosses to the device each step is what
training sends.

Printed per stream: the bytes a sample ships; steps/s, step time and samples/s of `--steps`
steps after a warmup call (which traces and compiles); peak memory of each accelerator
device; where the step's ops ran: op counts per device in the placed graphs TensorFlow
executed (run metadata of the first call), the XLA-compiled calls among them (a compiled
function is one call op; its body runs compiled on that op's device), and on a GPU or TPU
every op placed on the host that is not input, control flow or bookkeeping ("host fallback"),
uint8 gathers named. Soft device placement is off (`--soft_device_placement` turns it on), so
an op pinned to the device (as the mirrored and TPU strategies pin a replica's ops) without a
kernel there fails instead of moving to the host.
"""

from __future__ import annotations

import collections
import functools
import os
import platform
import time
from collections.abc import Callable
from typing import NamedTuple

# The CPU allocator that keeps memory statistics; read when TensorFlow starts (imported below).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import keras  # noqa: E402
import ml_collections  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

# No public API returns the placed graphs as data (`record_placement`).
from tensorflow.python.eager import context  # noqa: E402

from configs import spatial, temporal  # noqa: E402
from input_pipeline import crops, datasets, resample  # noqa: E402
from models import builder  # noqa: E402
from tfrecords import streams  # noqa: E402
from tfrecords.errors import UserError, run_binary  # noqa: E402
from training import loop, schedules  # noqa: E402
from training import strategy as strategy_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("streams", ["temporal", "spatial"], "Streams whose step runs, in order.")
flags.DEFINE_integer("image_size", 224, "Model input side S.")
flags.DEFINE_integer(
    "batch_size", 64, "Global batch (the configs train at 256 temporal, 32 spatial)."
)
flags.DEFINE_list(
    "frame_hw", ["256", "340"], "Largest frame (height, width): sizes the window buffer."
)
flags.DEFINE_integer("steps", 20, "Timed steps (one call of the step function).")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps of the first call (it compiles).")
flags.DEFINE_string("model", "", "Overrides config.model.name ('' = the config's).")
flags.DEFINE_enum(
    "strategy",
    "default",
    strategy_lib.SINGLE_WORKER_STRATEGIES,
    "training.strategy to run under.",
)
flags.DEFINE_string("tpu", "", "With --strategy=tpu: the TPU ('' = this TPU VM's).")
flags.DEFINE_integer("num_classes", 101, "Model output size (UCF-101: 101).")
flags.DEFINE_bool(
    "soft_device_placement",
    False,
    "Let TensorFlow move an op pinned to the device without a kernel there to the host (it "
    "is then listed under host fallback) instead of failing.",
)

# Ops a train step keeps on the host by design: its input, arguments, constants, control
# flow and transfers. Any other op on the host of a GPU/TPU run is a fallback.
_HOST_BOOKKEEPING = frozenset(
    "_Arg _Retval _Send _Recv _HostSend _HostRecv Const Identity IdentityN NoOp Enter Exit "
    "Merge Switch LoopCond NextIteration ControlTrigger IteratorGetNext "
    "IteratorGetNextAsOptional OptionalGetValue OptionalHasValue "
    "MultiDeviceIteratorGetNextFromShard TensorListReserve TensorListSetItem TensorListStack "
    "TensorListFromTensor".split()
)


class Placement(NamedTuple):
    """Where the ops of the step ran.

    Attributes:
      ops: device -> number of ops placed there.
      compiled: device -> XLA-compiled call ops placed there.
      host_fallback: op type (uint8 gathers as 'GatherV2[uint8]') -> count, of the ops on
        the host that are not `_HOST_BOOKKEEPING`; only counted when an accelerator runs.
    """

    ops: dict[str, int]
    compiled: dict[str, int]
    host_fallback: dict[str, int]


def accelerator() -> str:
    """The device type the step runs on: 'TPU', 'GPU' or 'CPU' (none of the others)."""
    for kind in ("TPU", "GPU"):
        if tf.config.list_logical_devices(kind):
            return kind
    return "CPU"


def describe_devices(kind: str) -> str:
    """One line: TensorFlow's version and build, and the devices of type `kind`."""
    build = tf.sysconfig.get_build_info()
    cuda = f", CUDA {build['cuda_version']}" if build.get("is_cuda_build") else ""
    names = []
    for device in tf.config.list_physical_devices(kind):
        details = tf.config.experimental.get_device_details(device)
        name = details.get("device_name") or platform.processor() or platform.machine()
        capability = details.get("compute_capability")
        names.append(f"{device.name} {name}" + (f" (compute {capability})" if capability else ""))
    return f"TensorFlow {tf.__version__}{cuda}; accelerator {kind}: {', '.join(names)}"


def stream_config(stream: str) -> ml_collections.ConfigDict:
    """The real config of `stream` at `--image_size` and `--batch_size`, random weights."""
    configs = {"spatial": spatial, "temporal": temporal}
    if stream not in configs:
        raise UserError(f"--streams={','.join(FLAGS.streams)}: use spatial and/or temporal")
    config = configs[stream].get_config()
    config.data.image_size = FLAGS.image_size
    config.train.batch_size = FLAGS.batch_size
    config.model.weights = ""  # same compute as ImageNet weights, nothing to download
    if FLAGS.model:
        config.model.name = FLAGS.model
        config.train.finetune_after_layer = ""  # the config's layer names another model
    return config


def synthetic_windows(
    config: ml_collections.ConfigDict, batch_size: int, frame_hw: tuple[int, int]
) -> tuple[tf.Tensor, ...]:
    """One batch shaped as the train pipeline ships it: (Windows, labels int32 [b]).

    Frames are uniform uint8 noise in a buffer of side `datasets.window_buffer_side`; each
    sample's box (0, 0, h, w) and flip come from `crops.random_crop_params`, as
    `samples.decode_train` draws them.
    """
    spec = datasets.sample_spec(config)
    side = datasets.window_buffer_side(frame_hw, spec.crop_scales)
    shape = [batch_size, spec.num_frames, side, side, spec.frame_channels]
    frames = tf.cast(tf.random.stateless_uniform(shape, [0, 0], 0, 256, tf.int32), tf.uint8)
    params = [
        crops.random_crop_params(
            frame_hw, spec.crop_scales, spec.max_scale_jitter, spec.random_flip, [1, i]
        )
        for i in range(batch_size)
    ]
    boxes = tf.stack([[[0, 0, p.height, p.width]] for p in params])
    flips = tf.stack([p.flip[tf.newaxis] for p in params])
    labels = tf.range(batch_size, dtype=tf.int32) % FLAGS.num_classes
    return resample.Windows(frames, tf.cast(boxes, tf.int32), flips), labels


def bytes_per_sample(windows: tuple[tf.Tensor, ...]) -> int:
    """Bytes one sample of a batch of `windows` ships (every field, per sample)."""
    return sum(t.shape[1:].num_elements() * t.dtype.size for t in windows)


def placement(run_metadata, kind: str) -> Placement:
    """Counts the ops of the placed graphs in `run_metadata` by device (see `Placement`)."""
    ops, compiled, fallback = collections.Counter(), collections.Counter(), collections.Counter()
    for function in run_metadata.function_graphs:
        for graph in function.partition_graphs:
            for node in graph.node:
                device = node.device.rsplit("/", 1)[-1].replace("device:", "")
                ops[device] += 1
                if node.attr["_XlaMustCompile"].b:
                    compiled[device] += 1
                if kind != "CPU" and device.startswith("CPU"):
                    if node.op not in _HOST_BOOKKEEPING:
                        uint8 = node.attr["Tparams"].type == tf.uint8.as_datatype_enum
                        fallback[node.op + ("[uint8]" if uint8 else "")] += 1
    return Placement(dict(ops), dict(compiled), dict(fallback))


def record_placement(call: Callable[[], object], kind: str) -> Placement:
    """Runs `call()` (the step's first call) recording the graphs TensorFlow placed."""
    # No public API returns the placed graphs as data; the eager context's run metadata
    # holds every function graph instantiated while it is on, partitioned by device.

    eager = context.context()
    eager.enable_run_metadata()
    try:
        call()
        return placement(eager.export_run_metadata(), kind)
    finally:
        eager.disable_run_metadata()


def _devices(kind: str) -> list[str]:
    """Names of the logical devices of type `kind` ('GPU:0', ...)."""
    return [device.name.split("device:")[-1] for device in tf.config.list_logical_devices(kind)]


def _reset_memory_stats(kind: str) -> None:
    """Restarts the peak memory of every `kind` device that keeps statistics."""
    for device in _devices(kind):
        try:
            tf.config.experimental.reset_memory_stats(device)
        except ValueError:  # an allocator without statistics: `_peak_memory` says so
            pass


def _peak_memory(kind: str) -> str:
    """Peak memory of each `kind` device since the reset, or that it is not reported."""
    peaks = []
    for device in _devices(kind):
        try:
            peak = tf.config.experimental.get_memory_info(device)["peak"]
        except ValueError:
            peak = 0
        peaks.append(f"{device} {peak / 2**20:.1f} MiB" if peak else f"{device} not reported")
    return ", ".join(peaks)


def run_stream(stream: str, strategy: tf.distribute.Strategy, kind: str) -> str:
    """Builds and runs the step of `stream`, prints its figures; returns its summary."""
    config = stream_config(stream)
    keras.config.set_dtype_policy(config.train.dtype_policy)
    with strategy.scope():
        model = builder.build_model(config, FLAGS.num_classes)
        builder.set_backbone_trainable(model, True, config.train.finetune_after_layer)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # The configs give the head-only phase in steps; only the schedule's shape matters.
        schedule = schedules.learning_rate_schedule(config.train, config.train.head_only_steps)
        optimizer = schedules.create_optimizer(config.train, schedule, step)
        optimizer.build(model.trainable_variables)
    frame_hw = tuple(int(side) for side in FLAGS.frame_hw)

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = input_context.get_per_replica_batch_size(FLAGS.batch_size)
        return tf.data.Dataset.from_tensors(synthetic_windows(config, batch, frame_hw)).repeat()

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    preprocess = functools.partial(
        resample.model_input, size=config.data.image_size, flow=streams.get(stream).flow
    )
    train_fn = loop.make_train_fn(model, optimizer, strategy, step, FLAGS.batch_size, preprocess)
    windows = synthetic_windows(config, 1, frame_hw)[0]
    print(
        f"{stream}: model {config.model.name} (configs/{stream}.py, random weights), "
        f"{len(model.trainable_variables)} trainable variables, image {config.data.image_size}, "
        f"global batch {FLAGS.batch_size} on {strategy.num_replicas_in_sync} replica(s); "
        f"a sample ships frames uint8 {windows.frames.shape[1:].as_list()} + boxes int32 "
        f"{windows.boxes.shape[1:].as_list()} + flips bool {windows.flips.shape[1:].as_list()}"
        f" = {bytes_per_sample(windows):,} bytes"
    )
    _reset_memory_stats(kind)
    where = record_placement(lambda: train_fn(iterator, tf.constant(FLAGS.warmup_steps)), kind)
    start = time.perf_counter()
    losses, _, _ = train_fn(iterator, tf.constant(FLAGS.steps))
    losses = losses.numpy()  # waits for the device
    seconds = time.perf_counter() - start
    rate = FLAGS.steps * FLAGS.batch_size / seconds
    print(
        f"{stream}: {FLAGS.steps} steps in {seconds:.2f} s: {1e3 * seconds / FLAGS.steps:.1f} "
        f"ms/step, {rate:.1f} samples/s; loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    )
    print(f"{stream}: peak memory {_peak_memory(kind)}")
    ops = ", ".join(f"{device} {count}" for device, count in sorted(where.ops.items()))
    compiled = ", ".join(f"{count} on {device}" for device, count in where.compiled.items())
    print(f"{stream}: ops placed: {ops}; XLA-compiled calls: {compiled or 'none'}")
    fallback = ", ".join(f"{op} x{count}" for op, count in sorted(where.host_fallback.items()))
    if kind == "CPU":
        fallback = "n/a (no accelerator: the host is the device)"
    print(f"{stream}: host fallback: {fallback or 'none'}")
    return f"{stream}={rate:.1f}"


def run(argv: list[str]) -> None:
    """Runs the step of every stream of `--streams` and prints its figures."""
    del argv

    if len(FLAGS.frame_hw) != 2:
        raise UserError(f"--frame_hw={','.join(FLAGS.frame_hw)}: give height,width")
    strategy = strategy_lib.create_strategy(FLAGS.strategy, FLAGS.tpu)
    tf.config.set_soft_device_placement(FLAGS.soft_device_placement)
    kind = accelerator()
    print(f"bench.device: {describe_devices(kind)}; strategy {FLAGS.strategy}")
    summaries = [run_stream(stream, strategy, kind) for stream in FLAGS.streams]
    print(f"device: {' '.join(summaries)} (samples/s, {kind})")


if __name__ == "__main__":
    run_binary(run)
