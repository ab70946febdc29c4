"""Tests of the contact sheet: flow colours with known answers, a decodable PNG."""

import numpy as np
import pytest
import tensorflow as tf

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
        assert contact_sheet.write_sheet(path, "clip.avi", _previews(with_flow), rankings) == path
        image = tf.io.decode_png(tf.io.read_file(path)).numpy()
        # 3 columns of 3 inches at 100 dpi.
        assert image.shape[1] == 900 and image.shape[2] in (3, 4)
        assert image[..., :3].std() > 10  # not blank
        heights[with_flow] = image.shape[0]
    # A row of 2.4 inches more with flow.
    assert heights[True] - heights[False] == pytest.approx(240, abs=1)


def test_sheet_without_previews_still_shows_the_bars(tmp_path):
    path = str(tmp_path / "bars.png")
    contact_sheet.write_sheet(path, "clip.avi", [], RANKINGS)
    assert tf.io.decode_png(tf.io.read_file(path)).shape[1] == 900
