"""Library code of train.py: strategy, datasets, loop, checkpoints, summaries.

The names and defaults a binary's flags offer are defined here, not in the modules that use
them (which import them from here): this file imports nothing, so a binary defines and
parses its flags before TensorFlow loads (tfrecords/startup.py), and a typo costs no import.
"""

# tf.distribute strategies by name (training/strategy.py builds them).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# One worker's strategies: evaluation gathers every replica's scores on this host.
SINGLE_WORKER_STRATEGIES = ("default", "mirrored", "tpu")
# The folder of a workdir that holds its checkpoints (training/checkpoints.py).
CHECKPOINTS = "checkpoints"
