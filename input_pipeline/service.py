"""Optional tf.data service: run the input pipeline on remote workers instead of the trainer.

With `config.data.service_address = 'grpc://host:port'` (a dispatcher), the dataset built up
to batching is sent to the dispatcher and its workers run it; the trainer only receives
batches. `config.data.service_processing_mode` is 'distributed_epoch' (workers split the
shards between them, each example once per epoch) or 'parallel_epochs' (every worker runs
the whole dataset).
"""

from __future__ import annotations

import ml_collections
import tensorflow as tf

PROCESSING_MODES = ("distributed_epoch", "parallel_epochs")


def check_config(data_config: ml_collections.ConfigDict) -> None:
    """Checks the service keys of `config.data`.

    Raises:
      ValueError: an unknown processing mode.
    """
    mode = data_config.service_processing_mode
    if mode not in PROCESSING_MODES:
        raise ValueError(
            f"config.data.service_processing_mode={mode!r}: use one of {PROCESSING_MODES}"
        )


def distribute(dataset: tf.data.Dataset, data_config: ml_collections.ConfigDict):
    """Moves `dataset`'s processing to the tf.data service when an address is configured.

    Args:
      dataset: the pipeline to run on the service's workers.
      data_config: `config.data` (service_address, service_processing_mode).

    Returns:
      `dataset` unchanged when `service_address` is '', else a dataset reading its elements
      from the service.

    Raises:
      ValueError: an unknown processing mode.
    """
    check_config(data_config)
    if not data_config.service_address:
        return dataset
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=data_config.service_processing_mode,
            service=data_config.service_address,
        )
    )
