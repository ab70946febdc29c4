"""What the Beam job needs to know about a dataset: its classes, its splits, its clips.

A dataset (`Dataset`) answers three questions, each in its own module:

* `class_names()`: class names in label order (label = index);
* `read_splits(split)`: the split's listed clips per subset, `{'train': [...], 'test': [...]}`;
* where its sources are: a `preprocessing.layout.Layout` (raw videos, RGB frames, flow).

A `Clip` is the same for every dataset: an id that is unique in the dataset and safe as a file
name (no '/'), the class and label, an optional group (clips of a group share actor and
scene; 0 = the dataset has none), and `list_entry`, the video's path `<class folder>/<file>`
under the layout's videos folder. Implementations: `preprocessing.ucf101`,
`preprocessing.hmdb51`, `preprocessing.folder`; `preprocessing.datasets` is the registry.
"""

from __future__ import annotations

import abc
import dataclasses
import posixpath
from collections.abc import Iterator, Sequence

import tensorflow as tf

from preprocessing.errors import DatasetError
from tfrecords.errors import UserError
from tfrecords.manifest import CLASS_INDEX_FILE

SUBSETS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Clip:
    """One listed clip of a split.

    Attributes:
      video_id: id unique in the dataset, used as record id and frame-folder name (UCF-101:
        `v_<Class>_gGG_cCC`; HMDB-51: the file name without `.avi`).
      class_name: class name as in the class list.
      label: 0-based class index.
      group: group number (UCF-101: 1-25, clips of a group share actor and scene); 0 when
        the dataset has no groups.
      clip: clip number within the group (0 without groups).
      subset: 'train' or 'test'.
      list_entry: the video's path under the videos folder, `<class folder>/<file name>`,
        spelled as the split list spells it.
    """

    video_id: str
    class_name: str
    label: int
    group: int
    clip: int
    subset: str
    list_entry: str


class Dataset(abc.ABC):
    """A dataset's conventions (see the module docstring); picklable."""

    name: str  # as on --dataset

    @property
    @abc.abstractmethod
    def splits(self) -> tuple[int, ...]:
        """The split numbers `read_splits` accepts."""

    @abc.abstractmethod
    def class_names(self) -> list[str]:
        """Class names in label order.

        Raises:
          DatasetError: the class list cannot be read (names the file and the fix).
        """

    @abc.abstractmethod
    def read_splits(self, split: int) -> dict[str, list[Clip]]:
        """Listed clips of `split` per subset, {'train': [...], 'test': [...]}.

        Raises:
          DatasetError: a split file or entry is bad (names file, line and the fix).
        """

    @property
    def split_rule(self) -> str:
        """How the subsets are chosen, recorded in the manifest (default: official lists)."""
        return "official split files"

    def check_split(self, split: int) -> None:
        """Raises UserError naming the split if `split` is not one of `splits`."""
        if split not in self.splits:
            raise UserError(
                f"split={split}: the {self.name} dataset has splits {list(self.splits)}"
            )


def read_text_lines(path: str, what: str) -> Iterator[tuple[int, str]]:
    """Yields (1-based line number, stripped text) of the non-blank lines of `path`.

    Accepts LF and CRLF endings and trailing spaces.

    Raises:
      DatasetError: the file is missing or not UTF-8; `what` says which file it should be.
    """
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"{path}: file not found. {what}")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e}). {what}") from e
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield number, line


def class_index_text(class_names: Sequence[str]) -> str:
    """`classInd.txt`-style text: `1 ClassA`, `2 ClassB`, ... (1-based, LF endings)."""
    return "".join(f"{label + 1} {name}\n" for label, name in enumerate(class_names))


def write_class_index(output_dir: str, class_names: Sequence[str]) -> str:
    """Writes `output_dir/CLASS_INDEX_FILE` (`class_index_text`); returns its path."""
    path = posixpath.join(output_dir, CLASS_INDEX_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(class_index_text(class_names))
    return path
