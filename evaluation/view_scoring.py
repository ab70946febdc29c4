"""The evaluation's device step: uint8 windows -> per-view probabilities, compiled, replicated.

eval.py, the watcher and the predictor score views the same way: the host ships each
sample's uint8 frames with the boxes and flips of its V views (`input_pipeline.datasets.
eval_views`), and one function, compiled with XLA (`jit_compile=True`), cuts, mirrors and
resizes them (`input_pipeline.resample.model_input`) and runs the model in inference mode,
on every replica of a `tf.distribute` strategy (`strategy.run`, so on a TPU VM it runs on
the TPU, not the host CPU).

XLA compiles one program per input shape, and an evaluation's last batch is short: every
batch is padded to the same global batch (zero frames, empty views; a multiple of the
replicas) and split evenly over the replicas, and the padding rows are dropped from the
result, so an evaluation compiles once whatever the number of videos. A padded sample's
zero frames with a 0 x 0 box resample to zeros (`model_input` clamps the box), which the
model scores and the host discards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

from input_pipeline import resample, samples

# Images float32 [N, S, S, C] in stored units -> probabilities [N, num_classes], inference.
ModelFn = Callable[[tf.Tensor], tf.Tensor]


def global_batch(batch_samples: int, num_replicas: int) -> int:
    """Samples per padded batch: `batch_samples` rounded up to a multiple of the replicas."""
    if batch_samples < 1 or num_replicas < 1:
        raise ValueError(f"batch_samples={batch_samples}, num_replicas={num_replicas}: need >= 1")
    return -(-batch_samples // num_replicas) * num_replicas


def pad_windows(windows: resample.Windows, size: int) -> resample.Windows:
    """Pads a batch of windows along the batch axis to `size` samples with empty samples.

    Args:
      windows: frames uint8 [b, T, H, W, c], boxes int32 [b, V, 4], flips bool [b, V],
        b <= size.
      size: samples after padding.

    Returns:
      Windows of `size` samples: the b given, then samples of zero frames, zero boxes and
      no flips.

    Raises:
      ValueError: more than `size` samples.
    """
    count = int(windows.frames.shape[0])
    if count > size:
        raise ValueError(f"a batch of {count} samples does not fit a padded batch of {size}")

    def pad(tensor: tf.Tensor) -> tf.Tensor:
        paddings = [[0, size - count]] + [[0, 0]] * (tensor.shape.rank - 1)
        return tf.pad(tensor, paddings)

    return resample.Windows(*(pad(tf.convert_to_tensor(t)) for t in windows))


class ViewScorer:
    """The compiled, replicated scoring step of eval batches of at most `batch_samples`.

    Args:
      model_fn: images -> probabilities in inference mode (a Keras model called with
        `training=False`, or a SavedModel signature); its variables created under
        `strategy.scope()` when the strategy distributes.
      spec: the stream's SampleSpec (image size S, flow or RGB).
      batch_samples: the most samples a batch holds (the dataset's batch size).
      strategy: the replicas to run on; None: the default strategy (one device).

    Attributes:
      replica_fn: the per-replica function, compiled with XLA: Windows of one replica's
        share -> probabilities.
      step_fn: the `tf.function` that runs `replica_fn` through `strategy.run` on a padded
        global batch of `padded_size` samples (traced once per frame shape).
      padded_size: samples per padded global batch (`global_batch`).
    """

    def __init__(
        self,
        model_fn: ModelFn,
        spec: samples.SampleSpec,
        batch_samples: int,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self._strategy = strategy or tf.distribute.get_strategy()
        replicas = self._strategy.num_replicas_in_sync
        self.padded_size = global_batch(batch_samples, replicas)
        self._per_replica = self.padded_size // replicas

        @tf.function(jit_compile=True)
        def replica_fn(windows: resample.Windows) -> tf.Tensor:
            images = resample.model_input(windows, spec.image_size, spec.stream.flow)
            return model_fn(images)

        @tf.function
        def step_fn(windows: resample.Windows) -> tf.Tensor:
            # Through a Python call: given the compiled tf.function itself, MirroredStrategy
            # runs one trace on both replicas and XLA refuses it ("Trying to access resource
            # .../replica_1 ... from device CPU:0"); called per replica, each traces its own.
            return self._strategy.run(lambda share: replica_fn(share), args=(windows,))

        self.replica_fn, self.step_fn = replica_fn, step_fn

    def distribute(self, windows: resample.Windows) -> object:
        """Pads a batch to `padded_size` samples and splits it evenly over the replicas."""
        padded = pad_windows(windows, self.padded_size)

        def replica_share(context: tf.distribute.experimental.ValueContext) -> resample.Windows:
            start = context.replica_id_in_sync_group * self._per_replica
            return resample.Windows(*(t[start : start + self._per_replica] for t in padded))

        return self._strategy.experimental_distribute_values_from_function(replica_share)

    def __call__(self, batch: Mapping[str, object]) -> np.ndarray:
        """An eval batch (`input_pipeline.datasets.eval_views`) -> float32 [b x V, C].

        Row b' * V + v is sample b', view v (the order of `resample.model_input`).
        """
        windows = resample.Windows(*batch[samples.WINDOWS])
        outputs = self._strategy.experimental_local_results(self.step_fn(self.distribute(windows)))
        probabilities = np.concatenate([np.asarray(o) for o in outputs], axis=0)
        views = int(windows.frames.shape[0]) * int(windows.boxes.shape[1])
        return probabilities[:views]
