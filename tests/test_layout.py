"""Tests of locating clip sources in the three accepted layouts (case-insensitively)."""

import json
import pathlib

import pytest
from absl import flags

from preprocessing import layout, ucf101
from preprocessing.errors import DatasetError

REPO = pathlib.Path(__file__).resolve().parents[1]
LISTS = REPO / "data" / "ucf101" / "ucfTrainTestlist"


def _clip(entry: str) -> ucf101.Clip:
    """A real list entry of split 1, parsed by the dataset layer."""
    names = ucf101.read_class_index(str(LISTS))
    for subset in ucf101.SUBSETS:
        for clip in ucf101.read_split(str(LISTS), 1, subset, names):
            if clip.list_entry == entry:
                return clip
    raise KeyError(entry)


def _frames(folder: pathlib.Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(1, count + 1):
        (folder / f"frame{i:06d}.jpg").write_bytes(b"jpeg")


@pytest.fixture
def handstand_tree(tmp_path):
    """One HandstandPushups clip in all layouts, spelled as the public archives spell it."""
    clip = _clip("HandstandPushups/v_HandStandPushups_g01_c01.avi")
    (tmp_path / "UCF-101" / "HandstandPushups").mkdir(parents=True)
    (tmp_path / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi").write_bytes(
        b"avi"
    )
    _frames(tmp_path / "jpegs_256" / "v_HandstandPushups_g01_c01", 5)
    _frames(tmp_path / "tvl1_flow" / "u" / "v_HandstandPushups_g01_c01", 4)
    _frames(tmp_path / "tvl1_flow" / "v" / "v_HandstandPushups_g01_c01", 4)
    return tmp_path, clip


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
    _frames(tmp_path / "clip", 4)
    (tmp_path / "clip" / "frame000002.jpg").unlink()
    with pytest.raises(DatasetError, match="expected frame000002.jpg, found frame000003.jpg"):
        layout.list_frames(str(tmp_path / "clip"))


def test_names_differing_only_in_case_are_refused(tmp_path):
    _frames(tmp_path / "jpegs_256" / "v_YoYo_g01_c01", 2)
    _frames(tmp_path / "jpegs_256" / "v_yoyo_g01_c01", 2)
    with pytest.raises(DatasetError, match="differ only in case"):
        layout.SourceIndex(layout.Layout.under(str(tmp_path)))


def test_sources_summary_counts_missing_and_mismatched(handstand_tree):
    root, clip = handstand_tree
    other = _clip("HandstandPushups/v_HandStandPushups_g01_c02.avi")
    _frames(root / "jpegs_256" / "v_HandstandPushups_g01_c02", 3)
    _frames(root / "tvl1_flow" / "u" / "v_HandstandPushups_g01_c02", 3)
    _frames(root / "tvl1_flow" / "v" / "v_HandstandPushups_g01_c02", 3)
    summary = ucf101.sources_summary([clip, other], layout.Layout.under(str(root)))
    assert summary["listed_clips"] == 2
    assert summary["videos"]["found"] == 1
    assert summary["videos"]["missing"] == ["v_HandstandPushups_g01_c02"]
    assert summary["frames"]["found"] == 2 and summary["frames"]["frames"] == 8
    assert summary["flow"]["found"] == 2 and summary["flow"]["frames"] == 7
    assert summary["flow"]["count_mismatch"] == [
        {"video_id": "v_HandstandPushups_g01_c02", "rgb": 3, "u": 3, "v": 3}
    ]


def test_cli_with_root_reports_and_fails_on_missing_clips(handstand_tree, capsys):
    root, _ = handstand_tree
    flag_values = flags.FlagValues()
    ucf101.define_flags(flag_values)
    flag_values(["ucf101", f"--splits_dir={LISTS}", "--split=1", f"--root={root}"])
    with pytest.raises(SystemExit) as exit_info:
        ucf101.run(flag_values)
    assert exit_info.value.code == 1
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources["listed_clips"] == 13320
    assert sources["frames"]["found"] == 1 and len(sources["frames"]["missing"]) == 13319
    assert sources["flow"]["found"] == 1
