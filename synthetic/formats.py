"""The synthetic clips of `synthetic.generate`, written as an HMDB-51 or a folder tree.

    python -m synthetic --format=hmdb51 --output_dir=DIR [--hmdb_train=N --hmdb_test=M] ...
    python -m synthetic --format=folder --output_dir=DIR ...

The clips, classes and pixels are those of `generate.plan` / `generate.render_clip` (same
spec, same frames); only names and split files differ.

HMDB-51 format (`generate_hmdb`)::

    testTrainMulti_7030_splits/<class>_test_split<k>.txt   `<file>.avi <tag> ` lines, CRLF
    hmdb51/<class>/<file>.avi       jpegs_256/<file stem>/...   tvl1_flow/{u,v}/<file stem>/...

Classes are the synthetic names in snake case (`beach_rise`), file names carry HMDB's awkward
characters and mixed case (`AWKWARD`). Of a class's n = groups x clips_per_group clips, split
k tags `hmdb_test` as 2 (test), the next `hmdb_train` as 1 (train) and the rest 0 (unused),
starting at clip (k - 1) * hmdb_test and wrapping, so each split has exactly
hmdb_train / hmdb_test clips per class and the splits differ (the real files: 70 / 30 of
~133; by default the generator scales that to n, `default_counts`).

Folder format (`generate_folder`): `<Class>/<awkward name>.<avi|mp4|mkv|mov>`, videos only,
no split (the folder dataset splits by a CSV or by a hash).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Sequence

import tensorflow as tf

from preprocessing import hmdb51
from preprocessing import layout as layout_lib
from synthetic import generate

FORMATS = ("hmdb51", "folder")
# Name decorations with the punctuation and mixed case of real HMDB-51 file names.
AWKWARD = ("Bob's_!Best", "#20_Rhume(II)", "A&B+C,d;e", "@Home_[Cam]", "Mixed_CASE", "plain")
FOLDER_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov")
_CRLF = "\r\n"


@dataclasses.dataclass(frozen=True)
class WrittenClip:
    """A generated clip under its dataset's name.

    Attributes:
      clip: the synthetic clip (label in synthetic order, frames, ...).
      class_name: the class as the dataset names it.
      path: the video's path relative to the videos folder, `<class>/<file>`.
      video_id: the dataset's clip id (HMDB-51: file stem; folder: `<class>__<stem>`).
      tags: HMDB-51 only: the tag (0, 1, 2) of splits 1-3.
    """

    clip: generate.SyntheticClip
    class_name: str
    path: str
    video_id: str
    tags: tuple[int, ...] = ()


def snake_case(name: str) -> str:
    """`BeachRise` -> `beach_rise` (HMDB-51 spells classes in snake case)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def class_index(spec: generate.SyntheticSpec, clip: generate.SyntheticClip) -> int:
    """0-based index of `clip` among its class's clips (group-major)."""
    return (clip.group - 1) * spec.clips_per_group + clip.clip - 1


def awkward_stem(clip: generate.SyntheticClip, class_name: str, index: int) -> str:
    """A file stem with HMDB-51's punctuation and mixed case, unique per clip.

    `index` is `class_index`: a class of >= len(AWKWARD) clips uses every decoration.
    """
    decoration = AWKWARD[(clip.label + index) % len(AWKWARD)]
    return f"{decoration}_{class_name}_u_nm_np1_fr_med_{clip.group}{clip.clip:02d}"


def hmdb_tags(index: int, count: int, train: int, test: int, split: int) -> int:
    """Tag of a class's clip `index` of `count` in `split` (see the module docstring)."""
    position = (index - (split - 1) * test) % count
    return 2 if position < test else 1 if position < test + train else 0


def default_counts(count: int) -> tuple[int, int]:
    """(train, test) per class for `count` clips: HMDB-51's 70 / 30 of ~133 clips, scaled."""
    return max(1, count * 70 // 133), max(1, count * 30 // 133)


def _check_counts(spec: generate.SyntheticSpec, train: int, test: int) -> int:
    count = spec.groups * spec.clips_per_group
    if train < 1 or test < 1 or train + test > count:
        raise ValueError(
            f"hmdb51 counts train={train}, test={test} clips per class: each must be >= 1 and "
            f"they must sum to at most the {count} clips per class ({spec.groups} groups x "
            f"{spec.clips_per_group} clips_per_group)"
        )
    return count


def _write_media(
    spec: generate.SyntheticSpec, root: str, videos_dir: str, clips: Sequence[WrittenClip]
) -> None:
    folders = layout_lib.Layout.under(root, videos_dir)
    for written in clips:
        rgb, flow = generate.render_clip(spec, written.clip)
        if "videos" in spec.layout:
            generate.write_video(posixpath.join(folders.videos_dir, written.path), rgb)
        if "frames" in spec.layout:
            generate.write_frames(posixpath.join(folders.frames_dir, written.video_id), rgb)
        if "flow" in spec.layout:
            generate.write_flow(folders.flow_dir, written.video_id, flow)


def generate_hmdb(
    output_dir: str,
    spec: generate.SyntheticSpec,
    train: int | None = None,
    test: int | None = None,
) -> list[WrittenClip]:
    """Writes an HMDB-51-format tree (module docstring); returns its clips.

    Args:
      output_dir: root of the tree.
      spec: the synthetic clips (groups x clips_per_group per class).
      train: clips per class tagged 1 in each split; with `test` None: `default_counts`.
      test: clips per class tagged 2 in each split.

    Raises:
      ValueError: `train` / `test` do not fit the clips per class (names both values).
    """
    if train is None or test is None:
        train, test = default_counts(spec.groups * spec.clips_per_group)
    count = _check_counts(spec, train, test)
    written: list[WrittenClip] = []
    lines: dict[str, dict[int, list[str]]] = {}
    for clip in generate.plan(spec):
        name = snake_case(clip.class_name)
        index = class_index(spec, clip)
        stem = awkward_stem(clip, name, index)
        tags = tuple(hmdb_tags(index, count, train, test, k) for k in hmdb51.SPLITS)
        written.append(WrittenClip(clip, name, f"{name}/{stem}.avi", stem, tags))
        for k, tag in zip(hmdb51.SPLITS, tags, strict=True):
            # Real lines end with a space before the line break.
            lines.setdefault(name, {}).setdefault(k, []).append(f"{stem}.avi {tag} ")
    splits_dir = posixpath.join(output_dir, hmdb51.SPLITS_DIR)
    tf.io.gfile.makedirs(splits_dir)
    for name, per_split in lines.items():
        for k, split_lines in per_split.items():
            with tf.io.gfile.GFile(hmdb51.split_file(splits_dir, name, k), "wb") as f:
                f.write("".join(line + _CRLF for line in split_lines).encode())
    _write_media(spec, output_dir, posixpath.join(output_dir, hmdb51.VIDEOS_DIR), written)
    return written


def generate_folder(output_dir: str, spec: generate.SyntheticSpec) -> list[WrittenClip]:
    """Writes a folder-format tree, `<Class>/<awkward name>.<ext>` (videos only)."""
    spec = dataclasses.replace(spec, layout=("videos",))
    written = []
    for clip in generate.plan(spec):
        stem = awkward_stem(clip, clip.class_name, class_index(spec, clip))
        extension = FOLDER_EXTENSIONS[(clip.group + clip.clip) % len(FOLDER_EXTENSIONS)]
        path = f"{clip.class_name}/{stem}{extension}"
        written.append(WrittenClip(clip, clip.class_name, path, f"{clip.class_name}__{stem}"))
    _write_media(spec, output_dir, output_dir, written)
    return written
