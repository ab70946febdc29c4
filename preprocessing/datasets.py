"""The datasets `python -m preprocessing --dataset=NAME` knows, and their default folders.

=========  ==========================================  =======================  ================
name       module                                      split files (ROOT/...)   videos (ROOT/...)
=========  ==========================================  =======================  ================
ucf101     preprocessing.ucf101 (`Ucf101`)             ucfTrainTestlist         UCF-101
hmdb51     preprocessing.hmdb51 (`Hmdb51`)             testTrainMulti_7030_...  hmdb51
folder     preprocessing.folder (`Folder`)             (--split_csv or a hash)  ROOT itself
=========  ==========================================  =======================  ================

Frames and flow are `ROOT/jpegs_256` and `ROOT/tvl1_flow` for every dataset.
"""

from __future__ import annotations

import posixpath

from preprocessing import DATASET_FOLDERS, DATASETS, folder, hmdb51, ucf101
from preprocessing.dataset import Dataset
from preprocessing.layout import Layout
from tfrecords.errors import UserError


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"dataset {name!r}: use one of {DATASETS}")


def default_splits_dir(name: str, root: str) -> str:
    """The split-files folder of dataset `name` under `root` ('' if it has none)."""
    _check_name(name)
    relative = DATASET_FOLDERS[name][0]
    return posixpath.join(root, relative) if relative is not None else ""


def default_layout(
    name: str,
    root: str,
    videos_dir: str | None = None,
    frames_dir: str | None = None,
    flow_dir: str | None = None,
) -> Layout:
    """Dataset `name`'s source folders under `root`, each overridable."""
    _check_name(name)
    videos = videos_dir or posixpath.join(root, DATASET_FOLDERS[name][1]).rstrip("/") or root
    return Layout.under(root, videos, frames_dir, flow_dir)


def create(
    name: str,
    splits_dir: str,
    layout: Layout,
    split_csv: str | None = None,
    test_fraction: float = folder.DEFAULT_TEST_FRACTION,
) -> Dataset:
    """The `Dataset` called `name`.

    Args:
      name: one of DATASETS.
      splits_dir: folder of the split files (ucf101, hmdb51); unused by folder.
      layout: source folders; folder's class folders are in `layout.videos_dir`.
      split_csv: folder only: CSV with the split (None: hash split).
      test_fraction: folder only, hash split: test fraction per class.

    Raises:
      UserError: unknown name, or folder-only options given to another dataset.
    """
    _check_name(name)
    if name != "folder" and split_csv:
        raise UserError(f"split_csv={split_csv}: a split CSV is for the folder dataset, not {name}")
    if name == "ucf101":
        return ucf101.Ucf101(splits_dir)
    if name == "hmdb51":
        return hmdb51.Hmdb51(splits_dir)
    return folder.Folder(layout.videos_dir, split_csv, test_fraction)
