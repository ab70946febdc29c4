"""Checks that a binary can write where it was told to, made before any expensive work.

`check_output_file` and `check_output_dir` refuse, with one `UserError` line
`<path>: <what is wrong>; <fix>`, an output the binary could only fail to write after
decoding, computing flow, training or evaluating: a file path that is a folder, a folder path
that is a file, a parent that cannot be created (a file stands where a folder is meant), a
location that is not writable. They go through `tf.io.gfile`, so `gs://` paths are checked
the same way, and leave nothing behind: missing folders are not created (the binary creates
them when it writes), and writability is probed by creating and removing one empty file in
the nearest folder that exists.

Why here: every binary writes outputs and imports `tfrecords/` (errors.py says why that is
the one shared layer); the checks need nothing else of ours.
"""

from __future__ import annotations

import posixpath
import uuid

import tensorflow as tf

from tfrecords.errors import UserError

# Prefix of the empty file that probes a folder's writability (removed at once).
_PROBE_PREFIX = ".write_check_"


def _root(path: str) -> str:
    """The top of `path` that the ancestor walk stops at: `gs://bucket`, `/` or ''."""
    if "://" in path:
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return "/" if path.startswith("/") else ""


def _nearest_existing(folder: str) -> str:
    """`folder` or its closest ancestor that exists (`.` for a relative path with none)."""
    root = _root(folder)
    current = folder.rstrip("/") or root
    while current and current != root and not tf.io.gfile.exists(current):
        current = posixpath.dirname(current)
    return current or "."


def _check_folder(path: str, folder: str, what: str) -> None:
    """Refuses `path` when `folder` (where it goes) cannot be created or written to."""
    existing = _nearest_existing(folder)
    if not tf.io.gfile.isdir(existing):
        raise UserError(
            f"{path}: {existing} is a file, not a folder; give {what} a path under a folder "
            f"(or move the file {existing} away)"
        )
    probe = posixpath.join(existing, f"{_PROBE_PREFIX}{uuid.uuid4().hex}")
    try:
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as e:
        reason = getattr(e, "message", None) or e.strerror or type(e).__name__
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
    if tf.io.gfile.isdir(path):
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
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        raise UserError(f"{path}: is a file, not a folder; give {what} a folder")
    _check_folder(path, path, what)
