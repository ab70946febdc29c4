"""Tests of locating clip sources in the three accepted layouts (case-insensitively)."""

import pathlib

import pytest
from conftest import fake_frames

from preprocessing import layout
from preprocessing.errors import DatasetError


def test_case_insensitive_lookup_in_every_layout(handstand_tree):
    root, clip = handstand_tree
    assert clip.video_id == "v_HandstandPushups_g01_c01"
    index = layout.SourceIndex(layout.Layout.under(str(root)))
    assert index.has_videos and index.has_frames and index.has_flow
    assert index.video(clip).endswith("UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi")
    assert index.rgb_dir(clip).endswith("jpegs_256/v_HandstandPushups_g01_c01")
    x_dir, y_dir = index.flow_dirs(clip)
    assert x_dir.endswith("tvl1_flow/u/v_HandstandPushups_g01_c01")
    assert y_dir.endswith("tvl1_flow/v/v_HandstandPushups_g01_c01")
    frames = layout.list_frames(index.rgb_dir(clip))
    assert [pathlib.Path(f).name for f in frames] == [f"frame{i:06d}.jpg" for i in range(1, 6)]


def test_overridden_folders_and_absent_layouts(handstand_tree, tmp_path):
    root, clip = handstand_tree
    moved = tmp_path / "elsewhere"
    (root / "jpegs_256").rename(moved)
    index = layout.SourceIndex(layout.Layout.under(str(root), frames_dir=str(moved)))
    assert index.rgb_dir(clip).startswith(str(moved))
    empty = layout.SourceIndex(layout.Layout.under(str(tmp_path / "nothing")))
    assert not (empty.has_videos or empty.has_frames or empty.has_flow)
    assert empty.video(clip) is None and empty.rgb_dir(clip) is None
    assert empty.flow_dirs(clip) == (None, None)


def test_gap_in_frame_numbering_is_an_error(tmp_path):
    fake_frames(tmp_path / "clip", 4)
    (tmp_path / "clip" / "frame000002.jpg").unlink()
    with pytest.raises(DatasetError, match="expected frame000002.jpg, found frame000003.jpg"):
        layout.list_frames(str(tmp_path / "clip"))


def test_names_differing_only_in_case_are_refused(tmp_path):
    fake_frames(tmp_path / "jpegs_256" / "v_YoYo_g01_c01", 2)
    fake_frames(tmp_path / "jpegs_256" / "v_yoyo_g01_c01", 2)
    with pytest.raises(DatasetError, match="differ only in case"):
        layout.SourceIndex(layout.Layout.under(str(tmp_path)))
