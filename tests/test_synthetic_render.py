"""Known-answer tests of the synthetic renderer: exact flow, wrap-around, frame/flow agreement."""

import dataclasses
import math

import cv2
import numpy as np
import pytest

from synthetic import render as render_lib
from synthetic.render import (
    APPEARANCES,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    MOTIONS,
    Scene,
    Trajectory,
    make_scene,
    make_trajectory,
    render,
)

_MOTION = {m.name: m for m in MOTIONS}


def _scene(lobes: int = 0) -> Scene:
    rng = np.random.default_rng(0)
    return Scene(
        background=rng.integers(0, 256, (FRAME_HEIGHT + 32, FRAME_WIDTH + 32, 3), np.uint8),
        sprite=rng.integers(0, 256, (256, 256, 3), np.uint8),
        lobes=lobes,
        lobe_depth=0.15 if lobes else 0.0,
        radius=70.0,
    )


def _still(position, angle, scale, camera) -> Trajectory:
    return Trajectory(
        position=np.asarray(position, float),
        angle=np.asarray(angle, float),
        scale=np.asarray(scale, float),
        camera=np.asarray(camera, float),
        noise_sigma=0.0,
    )


def test_spin_flow_is_the_rotation_of_the_offset():
    trajectory = _still([[170, 128], [170, 128]], [0.0, 0.1], [0.7, 0.7], np.zeros((2, 2)))
    rgb, flow = render(_scene(), trajectory, np.random.default_rng(0))
    assert rgb.shape == (2, 256, 340, 3) and rgb.dtype == np.uint8
    assert flow.shape == (1, 256, 340, 2) and flow.dtype == np.float32
    # 40 px right of the centre: (R(0.1) - I) (40, 0).
    np.testing.assert_allclose(
        flow[0, 128, 210], [40 * (math.cos(0.1) - 1), 40 * math.sin(0.1)], atol=1e-4
    )
    np.testing.assert_allclose(flow[0, 128, 170], [0, 0], atol=1e-5)
    np.testing.assert_array_equal(flow[0, 5, 5], [0, 0])  # static background


def test_translation_and_camera_flow_and_wrap_around():
    # Object centred 5 px from the left edge moves up 4 px; the camera moves by (1.5, -0.5).
    trajectory = _still([[5, 128], [5, 124]], [0.3, 0.3], [0.7, 0.7], [[0.0, 0.0], [1.5, -0.5]])
    _, flow = render(_scene(lobes=4), trajectory, np.random.default_rng(0))
    object_flow, background_flow = [0 - 1.5, -4 + 0.5], [-1.5, 0.5]
    for column in (0, 20, FRAME_WIDTH - 20, FRAME_WIDTH - 1):  # both sides of the wrap
        np.testing.assert_allclose(flow[0, 128, column], object_flow, atol=1e-5)
    np.testing.assert_allclose(flow[0, 128, FRAME_WIDTH // 2], background_flow, atol=1e-5)
    np.testing.assert_allclose(flow[0, 0, FRAME_WIDTH // 2], background_flow, atol=1e-5)


@pytest.mark.parametrize("motion", [m.name for m in MOTIONS])
def test_next_frame_warped_back_by_the_flow_is_this_frame(motion):
    rng = np.random.default_rng(3)
    scene = make_scene(APPEARANCES[1], rng, rng)
    trajectory = make_trajectory(_MOTION[motion], 4, scene.radius, rng)
    rgb, flow = render(scene, dataclasses.replace(trajectory, noise_sigma=0.0), rng)
    grid_x, grid_y = np.meshgrid(
        np.arange(FRAME_WIDTH, dtype=np.float32), np.arange(FRAME_HEIGHT, dtype=np.float32)
    )
    for i in range(3):
        x, y = grid_x + flow[i, ..., 0], grid_y + flow[i, ..., 1]
        inside = (x > 1) & (x < FRAME_WIDTH - 2) & (y > 1) & (y < FRAME_HEIGHT - 2)
        warped = cv2.remap(rgb[i + 1], x, y, cv2.INTER_LINEAR)
        error = np.abs(warped.astype(float) - rgb[i]).mean(axis=-1)
        still = np.abs(rgb[i + 1].astype(float) - rgb[i]).mean(axis=-1)
        changed = inside & (still > 10)  # where the motion shows in the image
        assert changed.sum() > 1000 and np.median(error[inside]) < 1.5, (motion, i)
        # Medians: (dis)occlusions at the silhouette have no flow to agree with.
        assert np.median(error[changed]) < 0.2 * np.median(still[changed]), (motion, i)


def test_dis_on_the_frames_recovers_the_stored_flow():
    rng = np.random.default_rng(5)
    scene = make_scene(APPEARANCES[0], rng, rng)
    rgb, flow = render(scene, make_trajectory(_MOTION["Fall"], 2, scene.radius, rng), rng)
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb]
    estimate = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(*gray, None)
    moving = np.linalg.norm(flow[0] - np.median(flow[0], axis=(0, 1)), axis=-1) > 1
    assert moving.mean() > 0.1  # the object is large
    error = np.linalg.norm(estimate - flow[0], axis=-1)
    assert np.median(error[moving]) < 0.5
    assert np.median(np.linalg.norm(flow[0], axis=-1)[moving]) > 2  # zero flow would be far


def test_trajectories_share_every_draw_across_motions():
    rise, fall, sway = (
        make_trajectory(_MOTION[name], 12, 70.0, np.random.default_rng(9))
        for name in ("Rise", "Fall", "Sway")
    )
    np.testing.assert_array_equal(rise.camera, fall.camera)
    np.testing.assert_array_equal(rise.camera, sway.camera)
    np.testing.assert_array_equal(rise.position[0], fall.position[0])
    np.testing.assert_allclose(
        rise.position - rise.position[0], -(fall.position - fall.position[0])
    )
    assert rise.noise_sigma == fall.noise_sigma == sway.noise_sigma


@pytest.mark.parametrize("motion", ["Glide", "Spin"])
def test_either_way_motions_go_both_ways(motion):
    """A horizontal flip of a clip must stay in its class: both directions are drawn."""
    signs = set()
    for seed in range(20):
        trajectory = make_trajectory(_MOTION[motion], 3, 70.0, np.random.default_rng(seed))
        delta = trajectory.position[1, 0] - trajectory.position[0, 0]
        signs.add(
            np.sign(delta if motion == "Glide" else trajectory.angle[1] - trajectory.angle[0])
        )
    assert signs == {-1.0, 1.0}


def test_scene_geometry_does_not_depend_on_the_appearance():
    scenes = [
        make_scene(appearance, np.random.default_rng(4), np.random.default_rng(6))
        for appearance in APPEARANCES
    ]
    assert len({(s.lobes, s.lobe_depth, s.radius) for s in scenes}) == 1
    means = np.array([s.background.mean(axis=(0, 1)) for s in scenes])
    assert (
        np.min(np.linalg.norm(means[:, None] - means[None], axis=-1) + 1e3 * np.eye(len(means)))
        > 20
    )


def test_unknown_motion_kind_is_rejected():
    bad = render_lib.Motion("Hop", "hop", (0.0, 0.0), 1.0, False)
    with pytest.raises(ValueError, match="hop"):
        make_trajectory(bad, 3, 70.0, np.random.default_rng(0))


def test_camera_shake_moves_the_whole_frame_a_little():
    """Mean-flow subtraction must matter: every clip's background moves, up to ~2 px/frame."""
    steps = [
        np.abs(
            np.diff(make_trajectory(MOTIONS[0], 20, 70.0, np.random.default_rng(s)).camera, axis=0)
        )
        for s in range(50)
    ]
    assert min(step.max() for step in steps) > 0.2
    assert max(step.max() for step in steps) < 2.5
