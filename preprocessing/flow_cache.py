"""A crash-proof cache of the videos source's frames and flow (`--flow_cache_dir=DIR`).

TV-L1 is the slow part of a job over raw videos (its cost: README.md's Scaling section), so
such a job must not lose finished clips when it dies. Each clip is written, as soon as it is
computed, in the archives' layout (`preprocessing.layout`), one tree per flow algorithm (a
cache of dis flow never serves tvl1)::

    DIR/<algorithm>/jpegs_256/<id>/frame000001.jpg ...         RGB
    DIR/<algorithm>/tvl1_flow/u/<id>/frame000001.jpg ...       x flow (the archives' folder
    DIR/<algorithm>/tvl1_flow/v/<id>/frame000001.jpg ...       name, whatever the algorithm)
    DIR/<algorithm>/.complete/<id>                             marker, JSON (see `write`)
    DIR/<algorithm>/.partial/<id>-<random>/...                 an entry being written

An entry counts only once its marker exists, and the marker is written last: the files go
to `.partial/` first, are renamed into place, and then the marker is renamed into
`.complete/`. A crash at any point leaves at worst files without a marker, which the next
run overwrites (files a killed run left in `.partial/` are never read; delete them when no
job is using the cache). With `gs://` a folder rename is a copy per object, not atomic; the marker,
one object, is what makes the entry complete. So `DIR/<algorithm>` is a `--source=frames`
root (give it the dataset's split lists with `--splits_dir`) once every listed clip has its
marker.

A cache hit reads the JPEGs back unchanged (as the frames source does), with the frame rate
from the marker, so the records equal those of a run that computed the clip. The marker also
records the frame resize rule (`video_frames.FRAME_RESIZE`); an entry of another rule (or of
none: written when every frame was resized to 340x256) is recomputed, as a damaged one.
"""

from __future__ import annotations

import json
import posixpath
import uuid

import tensorflow as tf

from optical_flow import video_frames
from preprocessing import layout as layout_lib
from preprocessing.clip_sources import (
    STAGE_READ,
    ClipError,
    clip_video,
    read_frame_folders,
    videos_source_name,
)
from preprocessing.dataset import Clip
from tfrecords.schema import Video

COMPLETE_DIR = ".complete"
# The marker's key of the frame resize rule; entries without it resized to 340x256.
FRAME_RESIZE_KEY = "frame_resize"
PARTIAL_DIR = ".partial"


class FlowCache:
    """The cache of one flow algorithm under `cache_dir` (see the module docstring).

    Picklable (two strings), so a Beam job ships it to its workers.
    """

    def __init__(self, cache_dir: str, flow_algorithm: str):
        self.flow_algorithm = flow_algorithm
        self.root = posixpath.join(cache_dir, flow_algorithm)

    @property
    def layout(self) -> layout_lib.Layout:
        """The cache as a frames-source layout (its `frames_dir` and `flow_dir`)."""
        return layout_lib.Layout.under(self.root)

    def marker(self, video_id: str) -> str:
        """Path of the completion marker of `video_id`'s entry."""
        return posixpath.join(self.root, COMPLETE_DIR, video_id)

    def complete_ids(self) -> set[str]:
        """Video ids whose entry is complete (one listing of the markers' folder)."""
        folder = posixpath.join(self.root, COMPLETE_DIR)
        if not tf.io.gfile.isdir(folder):
            return set()
        return {name.rstrip("/") for name in tf.io.gfile.listdir(folder)}

    def _folders(self, root: str, video_id: str) -> tuple[str, str, str]:
        """(RGB, x flow, y flow) folders of `video_id` under a layout rooted at `root`."""
        layout = layout_lib.Layout.under(root)
        return (
            posixpath.join(layout.frames_dir, video_id),
            posixpath.join(layout.flow_dir, layout_lib.FLOW_X_DIR, video_id),
            posixpath.join(layout.flow_dir, layout_lib.FLOW_Y_DIR, video_id),
        )

    def read(self, clip: Clip, verify_jpeg_decode: bool) -> Video | None:
        """The clip's Video from its complete entry, or None if it has none.

        Raises:
          ClipError: the entry is damaged (unreadable marker, missing or corrupt frames, or
            other counts than the marker's) or its frames were resized by another rule than
            `video_frames.FRAME_RESIZE`; the caller recomputes it.
        """
        marker = self.marker(clip.video_id)
        if not tf.io.gfile.exists(marker):
            return None
        try:
            with tf.io.gfile.GFile(marker, "r") as f:
                info = json.load(f)
            frame_rate = float(info["frame_rate"])
            counts = (int(info["rgb_frames"]), int(info["flow_frames"]))
        except (tf.errors.OpError, ValueError, KeyError, TypeError) as e:
            raise ClipError(STAGE_READ, f"{marker}: unreadable cache marker ({e})") from e
        if info.get(FRAME_RESIZE_KEY) != video_frames.FRAME_RESIZE:
            raise ClipError(
                STAGE_READ,
                f"{marker}: frames resized by another rule ("
                f"{info.get(FRAME_RESIZE_KEY, '340x256, before the rule was recorded')}) than "
                f"this job's ({video_frames.FRAME_RESIZE})",
            )
        rgb_dir, x_dir, y_dir = self._folders(self.root, clip.video_id)
        parents = (f"the flow cache {self.root}",) * 2
        media = read_frame_folders(clip, rgb_dir, (x_dir, y_dir), verify_jpeg_decode, parents)
        if (len(media["rgb"]), len(media["flow_x"])) != counts:
            raise ClipError(
                STAGE_READ,
                f"{clip.video_id}: cache entry holds {len(media['rgb'])} RGB and "
                f"{len(media['flow_x'])} flow frames, its marker {marker} says {counts}",
            )
        source = videos_source_name(self.flow_algorithm)
        return clip_video(clip, **media, source=source, frame_rate=frame_rate)

    def write(self, video: Video) -> None:
        """Writes `video`'s frames and flow as a complete entry, replacing any earlier files.

        The marker holds {"rgb_frames", "flow_frames", "frame_rate", "frame_resize"}.
        """
        video_id = video.video_id
        partial = posixpath.join(self.root, PARTIAL_DIR, f"{video_id}-{uuid.uuid4().hex}")
        staged = self._folders(partial, video_id)
        final = self._folders(self.root, video_id)
        for folder, frames in zip(staged, (video.rgb, video.flow_x, video.flow_y), strict=True):
            tf.io.gfile.makedirs(folder)
            for number, data in enumerate(frames, start=1):
                with tf.io.gfile.GFile(
                    posixpath.join(folder, layout_lib.frame_name(number)), "wb"
                ) as f:
                    f.write(data)
        for source, target in zip(staged, final, strict=True):
            if tf.io.gfile.exists(target):  # left by a run that died before its marker
                tf.io.gfile.rmtree(target)
            tf.io.gfile.makedirs(posixpath.dirname(target))
            tf.io.gfile.rename(source, target)
        info = {
            "rgb_frames": len(video.rgb),
            "flow_frames": len(video.flow_x),
            "frame_rate": video.frame_rate,
            FRAME_RESIZE_KEY: video_frames.FRAME_RESIZE,
        }
        temp_marker = posixpath.join(partial, "marker.json")
        with tf.io.gfile.GFile(temp_marker, "w") as f:
            json.dump(info, f)
        tf.io.gfile.makedirs(posixpath.join(self.root, COMPLETE_DIR))
        tf.io.gfile.rename(temp_marker, self.marker(video_id), overwrite=True)
        tf.io.gfile.rmtree(partial)
