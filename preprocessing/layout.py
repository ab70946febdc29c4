"""Where a clip's sources live on disk (or in a bucket), found case-insensitively.

Three layouts are accepted, each rooted at its own folder (defaults under one `--root`):

* `videos_dir` (default `ROOT/UCF-101`, `ucf101.VIDEOS_DIR`): `<Class>/v_<Class>_gGG_cCC.avi`
* `frames_dir` (default `ROOT/jpegs_256`, `FRAMES_DIR`): `v_<Class>_gGG_cCC/frame000001.jpg`, ...
* `flow_dir` (default `ROOT/tvl1_flow`, `FLOW_DIR`): `u/v_.../frame000001.jpg` (x, `FLOW_X_DIR`)
  and `v/v_.../...` (y, `FLOW_Y_DIR`)

The frame and flow folders are the public archives' layout, the same for every dataset; this
module owns their names (`frame_name` names the files). Each dataset module owns its own
split-file and video folder names (`ucf101.SPLITS_DIR`, `hmdb51.VIDEOS_DIR`, ...).

A `SourceIndex` lists each top folder once and maps lower-cased names to what is on disk, so
`v_HandStandPushups_g01_c01` (the lists' spelling) finds `v_HandstandPushups_g01_c01` (the
archives'). Frame folders are listed per clip with `list_frames`, which the Beam job calls in
parallel. Numbering must be contiguous from frame000001: a gap means a lost frame and is an
error, never a silent skip.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from typing import TYPE_CHECKING

import tensorflow as tf

from preprocessing import FLOW_DIR as FLOW_DIR
from preprocessing import FRAMES_DIR as FRAMES_DIR
from preprocessing import ucf101
from preprocessing.errors import DatasetError

if TYPE_CHECKING:
    from preprocessing.dataset import Clip

FLOW_X_DIR = "u"
FLOW_Y_DIR = "v"
FRAME_PATTERN = re.compile(r"^frame(\d{6})\.jpg$")  # frame_name's inverse


def frame_name(number: int) -> str:
    """File name of frame `number` (1-based) in a frame folder: 'frame000001.jpg', ..."""
    return f"frame{number:06d}.jpg"


@dataclasses.dataclass(frozen=True)
class Layout:
    """The three source folders; a folder that does not exist means 'layout absent'."""

    videos_dir: str
    frames_dir: str
    flow_dir: str

    @classmethod
    def under(
        cls,
        root: str,
        videos_dir: str | None = None,
        frames_dir: str | None = None,
        flow_dir: str | None = None,
    ) -> Layout:
        """Builds the layout of `root` (videos: UCF-101's folder), each overridable by a path."""
        return cls(
            videos_dir=videos_dir or posixpath.join(root, ucf101.VIDEOS_DIR),
            frames_dir=frames_dir or posixpath.join(root, FRAMES_DIR),
            flow_dir=flow_dir or posixpath.join(root, FLOW_DIR),
        )


def _entries(folder: str) -> list[str]:
    """Names in `folder` without the trailing '/' some file systems add to folders."""
    return [name.rstrip("/") for name in tf.io.gfile.listdir(folder)]


def _folded(folder: str) -> dict[str, str] | None:
    """Maps lower-cased entry names of `folder` to their spelling; None if it is absent."""
    if not tf.io.gfile.isdir(folder):
        return None
    folded: dict[str, str] = {}
    for name in _entries(folder):
        key = name.lower()
        if key in folded and folded[key] != name:
            raise DatasetError(
                f"{folder}: {folded[key]!r} and {name!r} differ only in case; keep one"
            )
        folded[key] = name
    return folded


class SourceIndex:
    """Resolves clips to their source paths in a Layout, case-insensitively.

    Listing cost: one listing of the frames folder, of each flow folder, and of each class
    folder of the videos. Picklable, so a Beam job can build it once and ship it to workers.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self._frames = _folded(layout.frames_dir)
        self._flow_x = _folded(posixpath.join(layout.flow_dir, FLOW_X_DIR))
        self._flow_y = _folded(posixpath.join(layout.flow_dir, FLOW_Y_DIR))
        self._class_dirs = _folded(layout.videos_dir)
        self._videos: dict[str, dict[str, str] | None] = {}

    @property
    def has_videos(self) -> bool:
        """Whether the raw-video folder exists."""
        return self._class_dirs is not None

    @property
    def has_frames(self) -> bool:
        """Whether the RGB-frames folder exists."""
        return self._frames is not None

    @property
    def has_flow(self) -> bool:
        """Whether both flow folders (`u` and `v`) exist."""
        return self._flow_x is not None and self._flow_y is not None

    def video(self, clip: Clip) -> str | None:
        """Path of the clip's .avi, or None if it is not on disk."""
        if self._class_dirs is None:
            return None
        class_folder, filename = clip.list_entry.split("/")
        actual_class = self._class_dirs.get(class_folder.lower())
        if actual_class is None:
            return None
        class_path = posixpath.join(self.layout.videos_dir, actual_class)
        if class_path not in self._videos:
            self._videos[class_path] = _folded(class_path)
        files = self._videos[class_path] or {}
        actual = files.get(filename.lower())
        return posixpath.join(class_path, actual) if actual else None

    def rgb_dir(self, clip: Clip) -> str | None:
        """The clip's RGB frame folder, or None if it is not on disk."""
        return _lookup(self.layout.frames_dir, self._frames, clip.video_id)

    def flow_dirs(self, clip: Clip) -> tuple[str | None, str | None]:
        """The clip's (x, y) flow frame folders; either is None if it is not on disk."""
        flow = self.layout.flow_dir
        return (
            _lookup(posixpath.join(flow, FLOW_X_DIR), self._flow_x, clip.video_id),
            _lookup(posixpath.join(flow, FLOW_Y_DIR), self._flow_y, clip.video_id),
        )


def _lookup(folder: str, folded: dict[str, str] | None, video_id: str) -> str | None:
    if folded is None:
        return None
    actual = folded.get(video_id.lower())
    return posixpath.join(folder, actual) if actual else None


def list_frames(folder: str) -> list[str]:
    """Paths of `frame%06d.jpg` in `folder`, in frame order (other files are ignored).

    Raises:
      DatasetError: numbering does not run 1..N without gaps (a lost frame).
    """
    numbered = []
    for name in _entries(folder):
        match = FRAME_PATTERN.match(name)
        if match:
            numbered.append((int(match.group(1)), name))
    numbered.sort()
    for expected, (number, name) in enumerate(numbered, start=1):
        if number != expected:
            raise DatasetError(
                f"{folder}: frames must be numbered frame000001.jpg, frame000002.jpg, ... "
                f"without gaps; expected {frame_name(expected)}, found {name}. Re-extract "
                "this clip's frames."
            )
    return [posixpath.join(folder, name) for _, name in numbered]
