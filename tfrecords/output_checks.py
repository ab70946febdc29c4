"""A binary's paths checked before any expensive work: outputs it can write, inputs that exist.

`check_output_file` and `check_output_dir` refuse, with one `UserError` line
`<path>: <what is wrong>; <fix>`, an output the binary could only fail to write after
decoding, computing flow, training or evaluating: a file path that is a folder, a folder path
that is a file, a parent that cannot be created (a file stands where a folder is meant), a
location that is not writable. They leave nothing behind: missing folders are not created
(the binary creates them when it writes), and writability is probed by creating and removing
one empty file in the nearest folder that exists. `check_input_dir` and `check_input_file`
refuse an input that is missing or of the wrong kind, naming the flag.

A path with a scheme (`gs://...`) goes through `tf.io.gfile`, imported only then (quietly,
`startup.import_tensorflow`); a local path through `os`, so a binary checks its local paths
before TensorFlow loads (a mistake costs well under a second, tfrecords/startup.py).

Why here: every binary writes outputs and imports `tfrecords/` (errors.py says why that is
the one shared layer); the checks need nothing else of ours.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from types import ModuleType

from tfrecords import DATASET_INFO_FILE, MANIFEST_FILE, startup
from tfrecords.errors import UserError

# Prefix of the empty file that probes a folder's writability (removed at once).
_PROBE_PREFIX = ".write_check_"


def _root(path: str) -> str:
    """The top of `path` that the ancestor walk stops at: `gs://bucket`, `/` or ''."""
    if "://" in path:
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return "/" if path.startswith("/") else ""


def _is_url(path: str) -> bool:
    return "://" in path


def _tensorflow() -> ModuleType:
    """TensorFlow, only for a path with a scheme (local checks load nothing), loaded quietly."""
    startup.import_tensorflow()
    import tensorflow as tf

    return tf


def _exists(path: str) -> bool:
    if _is_url(path):
        return _tensorflow().io.gfile.exists(path)
    return os.path.exists(path)


def _isdir(path: str) -> bool:
    if _is_url(path):
        return _tensorflow().io.gfile.isdir(path)
    return os.path.isdir(path)


def _probe_write(folder: str) -> None:
    """Creates and removes one empty file in `folder`; raises OSError when it cannot."""
    probe = posixpath.join(folder, f"{_PROBE_PREFIX}{uuid.uuid4().hex}")
    if not _is_url(folder):
        with open(probe, "w"):
            pass
        os.remove(probe)
        return
    tf = _tensorflow()
    try:
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except tf.errors.OpError as e:
        raise OSError(e.message) from e


def _nearest_existing(folder: str) -> str:
    """`folder` or its closest ancestor that exists (`.` for a relative path with none)."""
    root = _root(folder)
    current = folder.rstrip("/") or root
    while current and current != root and not _exists(current):
        current = posixpath.dirname(current)
    return current or "."


def _check_folder(path: str, folder: str, what: str) -> None:
    """Refuses `path` when `folder` (where it goes) cannot be created or written to."""
    existing = _nearest_existing(folder)
    if not _isdir(existing):
        raise UserError(
            f"{path}: {existing} is a file, not a folder; give {what} a path under a folder "
            f"(or move the file {existing} away)"
        )
    try:
        _probe_write(existing)
    except OSError as e:
        reason = e.strerror or (e.args[0] if e.args else type(e).__name__)
        raise UserError(
            f"{path}: cannot write in {existing} ({' '.join(str(reason).split())}); give {what} "
            "a location you can write to"
        ) from e


def check_output_file(path: str, what: str) -> None:
    """Checks that the file `path` can be written (an existing file is overwritten).

    Args:
      path: the output file, local or `gs://...`.
      what: how the user gave it, for the fix, e.g. `--output_json`.

    Raises:
      UserError: `path` is a folder, its folder cannot be created (a file stands on the way),
        or the location is not writable.
    """
    if _isdir(path):
        raise UserError(f"{path}: is a folder; give {what} a file name, e.g. {path}/out")
    _check_folder(path, posixpath.dirname(path), what)


def check_output_dir(path: str, what: str) -> None:
    """Checks that the folder `path` exists or can be created, and can be written in.

    Args:
      path: the output folder, local or `gs://...`.
      what: how the user gave it, for the fix, e.g. `--output_dir`.

    Raises:
      UserError: `path` or one of its ancestors is a file, or the location is not writable.
    """
    if _exists(path) and not _isdir(path):
        raise UserError(f"{path}: is a file, not a folder; give {what} a folder")
    _check_folder(path, path, what)


def check_input_dir(path: str, what: str, needs: tuple[str, ...] = (), fix: str = "") -> None:
    """Checks that the folder `path` exists (and holds one of the files `needs`, if given).

    Args:
      path: the input folder, local or `gs://...`.
      what: how the user gave it, e.g. `--data_dir`.
      needs: file names the folder must hold one of, e.g. `("manifest.json",)`; () = none.
      fix: what makes the folder, for the message, e.g. `python -m preprocessing`.

    Raises:
      UserError: `path` is missing, is a file, or lacks `needs`.
    """
    made_by = f" ({fix} writes it)" if fix else ""
    if not _exists(path):
        raise UserError(f"{path}: no such folder; give {what} an existing folder{made_by}")
    if not _isdir(path):
        raise UserError(f"{path}: is a file, not a folder; give {what} a folder{made_by}")
    if needs and not any(_exists(posixpath.join(path, name)) for name in needs):
        raise UserError(
            f"{path}: has no {' or '.join(needs)}; give {what} a folder that has one{made_by}"
        )


def check_input_file(path: str, what: str) -> None:
    """Checks that the file `path` exists and is not a folder.

    Raises:
      UserError: `path` is missing or is a folder.
    """
    if not _exists(path):
        raise UserError(f"{path}: no such file; give {what} an existing file")
    if _isdir(path):
        raise UserError(f"{path}: is a folder; give {what} a file")


def check_checkpoint(path: str, what: str, example: str) -> None:
    """Checks that the TensorFlow checkpoint `path` (a prefix: PATH.index beside its data) exists.

    Args:
      path: the checkpoint prefix, e.g. `W/checkpoints/ckpt-1000`, local or `gs://...`.
      what: how the user gave it, e.g. `--checkpoint`.
      example: a prefix to suggest, e.g. `W/checkpoints/ckpt-1000`.

    Raises:
      UserError: there is no `path.index`.
    """
    if not _exists(path + ".index"):
        raise UserError(
            f"{what}={path}: no {path}.index; give a checkpoint path prefix such as {example}"
        )


def check_data_dir(path: str, what: str = "--data_dir") -> None:
    """Checks that `path` is a data directory: the Beam job's manifest, or a TFDS dataset's info.

    Raises:
      UserError: `path` is missing, is a file, or has neither file (see check_input_dir).
    """
    check_input_dir(
        path, what, needs=(MANIFEST_FILE, DATASET_INFO_FILE), fix="python -m preprocessing"
    )
