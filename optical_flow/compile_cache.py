"""XLA's persistent compilation cache: compiled programs kept on disk across runs.

The TensorFlow TV-L1 (`optical_flow.tvl1`) compiles once per frame shape and batch in every
process that computes flow: seconds on a CPU (bench.flow prints them per preset), paid again
by every `predict.py` run on a short clip. TensorFlow keeps compiled XLA programs in a
directory when its `TF_XLA_FLAGS` hold `--tf_xla_persistent_cache_directory=DIR`, read when
XLA first compiles in a process (so setting it at the start of a binary's main is in time);
a later process finds the program there. Measured here (TF 2.21 CPU, a 340x256 element-wise
program): first call 3.5 s, 0.3 s with the cache filled. On reading the cache TensorFlow logs
two kinds of ERROR-level lines that are harmless (a text-format parse attempt before the
binary one, and XLA:CPU's machine-feature comparison naming `prefer-no-scatter`/
`prefer-no-gather`, which are tuning hints, not instructions), so the cache is opt-in:
`predict.py --xla_cache_dir=DIR`, `python -m preprocessing --xla_cache_dir=DIR` (local
runs; a Dataflow worker is a fresh machine).
"""

from __future__ import annotations

import os

import tensorflow as tf

from tfrecords.errors import UserError

XLA_FLAGS_VARIABLE = "TF_XLA_FLAGS"
CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def use_compile_cache(directory: str) -> None:
    """Makes XLA keep compiled programs in `directory` (created); '' leaves XLA as it is.

    Call before anything compiles in this process.

    Raises:
      UserError: `directory` cannot be created, or TF_XLA_FLAGS already names another one.
    """
    if not directory:
        return
    try:
        tf.io.gfile.makedirs(directory)
    except tf.errors.OpError as e:
        raise UserError(f"xla_cache_dir={directory}: cannot create it ({e.message})") from e
    current = os.environ.get(XLA_FLAGS_VARIABLE, "")
    wanted = f"{CACHE_FLAG}={directory}"
    if CACHE_FLAG in current and wanted not in current.split():
        raise UserError(
            f"xla_cache_dir={directory}: {XLA_FLAGS_VARIABLE} already sets {CACHE_FLAG} "
            f"({current!r}); give one cache directory"
        )
    if wanted not in current.split():
        os.environ[XLA_FLAGS_VARIABLE] = f"{current} {wanted}".strip()
