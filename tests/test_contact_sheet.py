"""Tests of the contact sheet: flow colours and their legend with known answers, the texts
and chance lines of the figure, a decodable PNG."""

import numpy as np
import pytest
import tensorflow as tf
from matplotlib import image as matplotlib_image
from matplotlib import lines as matplotlib_lines

from evaluation import contact_sheet

RANKINGS = [
    ("Spatial", [("BeachRise", 0.6), ("BeachFall", 0.4)]),
    ("Temporal", [("ForestRise", 0.7), ("BeachRise", 0.2)]),
    ("Fused", [("BeachRise", 0.4), ("ForestRise", 0.35)]),
]


def _flow(x, y, shape=(2, 3)):
    return np.stack([np.full(shape, x, np.float32), np.full(shape, y, np.float32)], axis=-1)


@pytest.mark.parametrize(
    "x, y, rgb",
    [
        (0.0, 0.0, (255, 255, 255)),  # still: white
        (4.0, 0.0, (255, 0, 0)),  # right: red
        (0.0, 4.0, (128, 255, 0)),  # down (image y): hue 0.25
        (-4.0, 0.0, (0, 255, 255)),  # left: cyan
        (0.0, -4.0, (128, 0, 255)),  # up: hue 0.75
        (2.0, 0.0, (255, 128, 128)),  # half the full speed: half saturated
        (40.0, 0.0, (255, 0, 0)),  # faster than full speed: clipped
    ],
)
def test_flow_colours(x, y, rgb):
    colours = contact_sheet.flow_to_rgb(_flow(x, y), full_speed=4.0)
    assert colours.dtype == np.uint8 and colours.shape == (2, 3, 3)
    np.testing.assert_array_equal(colours, np.broadcast_to(rgb, (2, 3, 3)))


def test_slow_flow_is_not_amplified():
    """Full saturation never needs less than 1 pixel of motion, however still the video."""
    colours = contact_sheet.flow_to_rgb(_flow(0.1, 0.0), full_speed=0.1)
    assert colours.min() >= 229  # 10% saturated at most


def _previews(with_flow):
    rng = np.random.default_rng(0)
    return [
        contact_sheet.Preview(
            frame,
            rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
            rng.normal(0, 3, (24, 32, 2)).astype(np.float32) if with_flow else None,
        )
        for frame in (0, 9, 18)
    ]


def test_write_sheet_writes_a_png_with_a_flow_row_when_there_is_flow(tmp_path):
    heights = {}
    for with_flow, rankings in ((True, RANKINGS), (False, RANKINGS[:1])):
        path = str(tmp_path / f"sheet_{with_flow}.png")
        previews = _previews(with_flow)
        assert contact_sheet.write_sheet(path, "clip.avi", previews, rankings, 101) == path
        image = tf.io.decode_png(tf.io.read_file(path)).numpy()
        # Columns of 3 inches at 100 dpi: 3 frames; with flow 3 bar panels and the legend.
        assert image.shape[1] == (1200 if with_flow else 900) and image.shape[2] in (3, 4)
        assert image[..., :3].std() > 10  # not blank
        heights[with_flow] = image.shape[0]
    # A row of 2.4 inches more with flow.
    assert heights[True] - heights[False] == pytest.approx(240, abs=1)


def test_sheet_without_previews_still_shows_the_bars(tmp_path):
    path = str(tmp_path / "bars.png")
    contact_sheet.write_sheet(path, "clip.avi", [], RANKINGS, 101)
    assert tf.io.decode_png(tf.io.read_file(path)).shape[1] == 900


def test_legend_wheel_colours_are_the_flow_colours_of_its_directions():
    """Rim pixels: the colours of test_flow_colours' full-speed directions; centre and
    corners (outside the disc) white."""
    wheel = contact_sheet.legend_wheel(5)
    assert wheel.shape == (5, 5, 3) and wheel.dtype == np.uint8
    expected = {
        (2, 2): (255, 255, 255),  # centre: still
        (2, 4): (255, 0, 0),  # right rim: red
        (4, 2): (128, 255, 0),  # bottom rim (image y down): hue 0.25
        (2, 0): (0, 255, 255),  # left rim: cyan
        (0, 2): (128, 0, 255),  # top rim: hue 0.75
        (2, 3): (255, 128, 128),  # halfway right: half saturated
        (0, 0): (255, 255, 255),  # corner, outside the disc
    }
    for (row, column), rgb in expected.items():
        assert tuple(wheel[row, column]) == rgb, (row, column)


def test_sheet_says_protocol_flow_warning_and_chance():
    notes = ["protocol: 25 samples x 10 crops", "flow: dis"]
    warning = "warning: flow computed with dis, the temporal model learnt from tvl1 flow"
    fig = contact_sheet.sheet_figure(
        "clip.avi: 40 frames", _previews(True), RANKINGS, 4, notes, warning
    )
    assert fig.get_suptitle() == "clip.avi: 40 frames\nprotocol: 25 samples x 10 crops\nflow: dis"
    assert fig.get_supxlabel() == warning
    assert fig._supxlabel.get_color() == "tab:red"
    bars = [a for a in fig.axes if a.get_title() in ("Spatial", "Temporal", "Fused")]
    assert len(bars) == 3
    for axis in bars:
        chance = [
            line.get_xdata()
            for line in axis.get_lines()
            if isinstance(line, matplotlib_lines.Line2D)
        ]
        assert [list(x) for x in chance] == [[0.25, 0.25]]  # 1 / 4 classes
        assert axis.get_xlabel() == "probability (dashed: chance, 1/4)"
    (legend,) = [a for a in fig.axes if a.get_title() == "flow colours"]
    (shown,) = [c for c in legend.get_children() if isinstance(c, matplotlib_image.AxesImage)]
    np.testing.assert_array_equal(shown.get_array(), contact_sheet.legend_wheel())
    assert legend.get_xlabel().startswith("hue: direction; saturation: speed")


def test_sheet_without_flow_has_no_legend_and_no_warning():
    fig = contact_sheet.sheet_figure("clip.avi", _previews(False), RANKINGS[:1], 101)
    assert fig.get_suptitle() == "clip.avi" and fig.get_supxlabel() == ""
    assert [a.get_title() for a in fig.axes if a.get_title() == "flow colours"] == []
