"""Rendering of the synthetic dataset: appearances, motions, frames and exact optical flow.

A scene is a textured background (the appearance's background palette and pattern) and one
large textured object (its object palette and pattern) whose silhouette, a disc with 0-5
lobes, is drawn per group independently of the appearance. A trajectory says where the object
is (on a torus, so it wraps around the frame edges and its position is uniform), its angle,
its scale and where the shaking camera looks, frame by frame.

Frames are rendered analytically from (scene, trajectory, t) with no motion blur, and the flow
from frame t to t+1 is computed from the same transforms: a background pixel moves by minus
the camera step, an object pixel `p = position + d` moves to
`position' + (s'/s) R(angle' - angle) d` (minus the camera step). It is the exact motion field
of the rendered pixels (except at disocclusions), so a flow estimator run on the frames
recovers it up to its own error.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
from numpy.polynomial.chebyshev import chebval

from optical_flow.video_frames import FRAME_HEIGHT, FRAME_WIDTH  # the archives' 340x256

SPRITE_HALF = 128  # the object texture covers local coordinates [-128, 128)
OBJECT_RADIUS = 100.0  # silhouette radius in local coordinates (before lobes)
_PAD = 16  # background margin for the camera shake (|shake| <= 2.5 px)
_NOISE_MARGIN = 32


@dataclasses.dataclass(frozen=True)
class Appearance:
    """What one frame shows: palettes and patterns of the background and the object.

    Palettes are two colours as 0xRRGGBB; patterns are 'noise', 'stripes', 'checker', 'dots'
    or 'waves'.
    """

    name: str
    background: tuple[int, int]
    background_pattern: str
    foreground: tuple[int, int]
    foreground_pattern: str


@dataclasses.dataclass(frozen=True)
class Motion:
    """How the object moves.

    Attributes:
      name: CamelCase name, the second half of class names.
      kind: 'translate', 'oscillate' (position), 'spin' (angle) or 'pulse' (scale).
      axis: unit (x, y) direction of 'translate' / 'oscillate'; (0, 0) otherwise.
      speed: px/frame ('translate'), peak px/frame ('oscillate'), degrees/frame ('spin') or
        relative scale amplitude ('pulse'), before the per-clip speed jitter.
      either_way: the sign is drawn per clip, which keeps the class closed under the
        horizontal flips of training and testing (a mirrored clip stays in its class).
    """

    name: str
    kind: str
    axis: tuple[float, float]
    speed: float
    either_way: bool


APPEARANCES = (
    Appearance("Beach", (0xE8D098, 0xC4A66C), "noise", (0x1C58CC, 0xF6F6F6), "stripes"),
    Appearance("Forest", (0x164E1E, 0x408434), "noise", (0xF48E16, 0x763A12), "checker"),
    Appearance("Snow", (0xECF0FA, 0xBAC6D8), "waves", (0xCC1420, 0x1E1E1E), "dots"),
    Appearance("Night", (0x0A0E34, 0x2C3470), "noise", (0xFADE28, 0x8E28A0), "stripes"),
    Appearance("Desert", (0xEC8434, 0xB2501E), "waves", (0x14ACAC, 0xE8FAF0), "checker"),
    Appearance("Ocean", (0x145AAC, 0x3EA2DE), "waves", (0xFA78AC, 0xFFE8F2), "dots"),
    Appearance("Meadow", (0x98D452, 0x64AA32), "dots", (0xC81EA0, 0xFAFAFA), "checker"),
    Appearance("Cave", (0x483E38, 0x7A6A60), "noise", (0x3CE85C, 0x143C1E), "stripes"),
)

# First M are used; the first two differ only by direction (the easiest pair).
MOTIONS = (
    Motion("Rise", "translate", (0.0, -1.0), 4.0, False),
    Motion("Fall", "translate", (0.0, 1.0), 4.0, False),
    Motion("Spin", "spin", (0.0, 0.0), 6.0, True),
    Motion("Pulse", "pulse", (0.0, 0.0), 0.2, False),
    Motion("Glide", "translate", (1.0, 0.0), 4.0, True),
    Motion("Sway", "oscillate", (1.0, 0.0), 10.0, False),
    Motion("Bounce", "oscillate", (0.0, 1.0), 10.0, False),
    Motion("Sink", "translate", (0.0, 1.0), 1.3, False),
)


@dataclasses.dataclass(frozen=True)
class Scene:
    """One group's scene (as UCF groups share actor and background).

    Attributes:
      background: uint8 [256 + 2 * 16, 340 + 2 * 16, 3] RGB texture (margin for the shake).
      sprite: uint8 [256, 256, 3] RGB object texture over local coordinates [-128, 128).
      lobes: number of silhouette lobes (0 = disc).
      lobe_depth: relative radius modulation of the lobes.
      radius: object radius on screen in pixels, before per-clip jitter.
    """

    background: np.ndarray
    sprite: np.ndarray
    lobes: int
    lobe_depth: float
    radius: float


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Per-frame state of one clip; N frames.

    Attributes:
      position: float64 [N, 2] object centre (x, y) in screen pixels, unwrapped.
      angle: float64 [N] object rotation in radians.
      scale: float64 [N] screen pixels per local unit.
      camera: float64 [N, 2] camera offset (x, y) in pixels (the shake).
      noise_sigma: std of the per-frame sensor noise, in 0..255 units.
    """

    position: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    camera: np.ndarray
    noise_sigma: float


def _pattern(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A float32 [height, width] pattern in [0, 1] with random orientation and period."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0.0, math.pi)
    xr = x * math.cos(angle) + y * math.sin(angle)
    yr = -x * math.sin(angle) + y * math.cos(angle)
    if kind == "noise":
        field = cv2.GaussianBlur(
            rng.standard_normal((height, width)).astype(np.float32), (0, 0), rng.uniform(4.0, 7.0)
        )
        base = 1.0 / (1.0 + np.exp(-3.0 * field / field.std()))
    elif kind == "stripes":
        base = 0.5 + 0.5 * np.sin(2 * math.pi * xr / rng.uniform(18.0, 30.0))
    elif kind == "checker":
        period = rng.uniform(24.0, 40.0)
        product = np.sin(math.pi * xr / period) * np.sin(math.pi * yr / period)
        base = 0.5 + 0.5 * np.tanh(4.0 * product)
    elif kind == "dots":
        period = rng.uniform(22.0, 34.0)
        product = np.cos(2 * math.pi * xr / period) * np.cos(2 * math.pi * yr / period)
        base = 1.0 / (1.0 + np.exp(-10.0 * (product - 0.4)))
    elif kind == "waves":
        period = rng.uniform(20.0, 36.0)
        bend = 8.0 * np.sin(2 * math.pi * xr / (3.0 * period))
        base = 0.5 + 0.5 * np.sin(2 * math.pi * (yr + bend) / period)
    else:
        raise ValueError(f"unknown pattern {kind!r}")
    # Fine grain: gives flow estimators texture to lock on, also inside flat stripes.
    grain = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.0)
    return np.clip(base + 0.08 * grain, 0.0, 1.0).astype(np.float32)


def _rgb(colour: int) -> np.ndarray:
    """0xRRGGBB -> float32 [3] RGB."""
    return np.float32([(colour >> 16) & 255, (colour >> 8) & 255, colour & 255])


def _paint(pattern: np.ndarray, palette: tuple[int, int], gain: float) -> np.ndarray:
    """Maps a [h, w] pattern in [0, 1] between the palette's two colours -> uint8 [h, w, 3] RGB."""
    low, high = (_rgb(colour) * gain for colour in palette)
    return np.clip(low + (high - low) * pattern[..., None], 0, 255).astype(np.uint8)


def make_scene(
    appearance: Appearance, shape_rng: np.random.Generator, texture_rng: np.random.Generator
) -> Scene:
    """Draws one group's scene.

    The silhouette and size come from `shape_rng`, the textures and lighting of `appearance`
    from `texture_rng`: separate streams, so a caller can share either across classes.
    """
    lobes = int(shape_rng.choice([0, 3, 4, 5]))
    lobe_depth = shape_rng.uniform(0.08, 0.18) if lobes else 0.0
    radius = shape_rng.uniform(60.0, 85.0)
    gain = texture_rng.uniform(0.85, 1.15)  # the group's lighting
    height, width = FRAME_HEIGHT + 2 * _PAD, FRAME_WIDTH + 2 * _PAD
    background = _pattern(appearance.background_pattern, height, width, texture_rng)
    sprite = _pattern(appearance.foreground_pattern, 2 * SPRITE_HALF, 2 * SPRITE_HALF, texture_rng)
    return Scene(
        background=_paint(background, appearance.background, gain),
        sprite=_paint(sprite, appearance.foreground, gain),
        lobes=lobes,
        lobe_depth=lobe_depth,
        radius=radius,
    )


def make_trajectory(
    motion: Motion, num_frames: int, radius: float, rng: np.random.Generator
) -> Trajectory:
    """Draws one clip's trajectory; start position, angle and phases are uniform.

    Every random draw happens whatever the motion, in a fixed order: the same generator state
    gives the same start, size, speed factor, phase and camera shake to every motion, so
    clips that share a generator differ only in how the object moves.

    Args:
      motion: the class's motion.
      num_frames: N.
      radius: the scene's object radius in pixels (jittered here by +-10%).
      rng: the clip's generator.
    """
    t = np.arange(num_frames, dtype=np.float64)
    factor, sign = rng.uniform(0.8, 1.25), rng.choice([-1.0, 1.0])
    speed = motion.speed * factor * (sign if motion.either_way else 1.0)
    start = rng.uniform([0.0, 0.0], [FRAME_WIDTH, FRAME_HEIGHT])
    angle = np.full(num_frames, rng.uniform(0.0, 2 * math.pi))
    scale = np.full(num_frames, radius * rng.uniform(0.9, 1.1) / OBJECT_RADIUS)
    omega = 2 * math.pi / rng.uniform(9.0, 13.0)  # oscillation and pulse: period 9-13 frames
    phase = omega * t + rng.uniform(0.0, 2 * math.pi)
    # Camera shake: two sinusoids per axis, up to 2.5 px away, up to ~2 px/frame.
    amplitude = rng.uniform(0.5, 2.5) * rng.dirichlet([2.0, 2.0], size=2)
    periods = rng.uniform(6.0, 20.0, size=(2, 2))
    phases = rng.uniform(0.0, 2 * math.pi, size=(2, 2))
    camera = (amplitude * np.sin(2 * math.pi * t[:, None, None] / periods + phases)).sum(axis=2)
    noise_sigma = rng.uniform(1.0, 4.0)

    position = np.tile(start, (num_frames, 1))
    axis = np.asarray(motion.axis)
    if motion.kind == "translate":
        position += t[:, None] * speed * axis
    elif motion.kind == "oscillate":
        position += np.sin(phase)[:, None] * (speed / omega) * axis
    elif motion.kind == "spin":
        angle += np.radians(speed) * t
    elif motion.kind == "pulse":
        scale *= 1.0 + speed * np.sin(phase)
    else:
        raise ValueError(f"unknown motion kind {motion.kind!r}")
    return Trajectory(position, angle, scale, camera, noise_sigma)


def _wrap(values: np.ndarray, period: float) -> np.ndarray:
    """Signed offset on a circle of length `period`, in [-period/2, period/2)."""
    return (values + period / 2) % period - period / 2


def _lobe_factor(scene: Scene, qx: np.ndarray, qy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """`1 + depth * cos(lobes * polar angle)`, via Chebyshev polynomials (no arctan2)."""
    cos_angle = qx / np.maximum(radius, 1e-3)
    return 1.0 + scene.lobe_depth * chebval(cos_angle, [0.0] * scene.lobes + [1.0])


def _segments(first: int, length: int, period: int) -> list[tuple[slice, slice]]:
    """Splits the cyclic range [first, first + length) mod period into contiguous pieces.

    Returns:
      (screen slice, window slice) pairs: screen[screen slice] is window[window slice].
    """
    head = min(length, period - first)
    pieces = [(slice(first, first + head), slice(0, head))]
    if head < length:
        pieces.append((slice(0, length - head), slice(head, length)))
    return pieces


def _window(centre: float, reach: float, period: int) -> tuple[np.ndarray, list]:
    """Screen indices within `reach` of `centre` on a circle, and their contiguous pieces."""
    length = min(period, 2 * math.ceil(reach) + 3)
    first = math.floor(centre - reach - 1) % period
    return (first + np.arange(length)) % period, _segments(first, length, period)


def render(
    scene: Scene, trajectory: Trajectory, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Renders a clip and its exact forward flow; `rng` draws only the sensor noise.

    The object is computed only in a window around it (which wraps around the edges).

    Returns:
      rgb: uint8 [N, 256, 340, 3] RGB frames.
      flow: float32 [N-1, 256, 340, 2] motion (x, y) in pixels from frame i to frame i+1.
    """
    count = len(trajectory.angle)
    noise_shape = (FRAME_HEIGHT + _NOISE_MARGIN, FRAME_WIDTH + _NOISE_MARGIN, 3)
    noise = rng.standard_normal(noise_shape, dtype=np.float32)
    noise *= trajectory.noise_sigma
    rgb = np.empty((count, FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
    flow = np.empty((max(count - 1, 0), FRAME_HEIGHT, FRAME_WIDTH, 2), np.float32)
    reach_local = OBJECT_RADIUS * (1.0 + scene.lobe_depth) + 1.0
    for i in range(count):
        (px, py), (cx, cy) = trajectory.position[i] - trajectory.camera[i], trajectory.camera[i]
        angle, scale = trajectory.angle[i], float(trajectory.scale[i])
        cos, sin = math.cos(angle), math.sin(angle)
        rows, row_pieces = _window(py, reach_local * scale, FRAME_HEIGHT)
        cols, col_pieces = _window(px, reach_local * scale, FRAME_WIDTH)
        dx = _wrap(cols - px, FRAME_WIDTH).astype(np.float32)[None, :]
        dy = _wrap(rows - py, FRAME_HEIGHT).astype(np.float32)[:, None]
        qx = (cos * dx + sin * dy) / scale  # local = R(-angle) d / scale
        qy = (cos * dy - sin * dx) / scale
        radius = np.sqrt(qx * qx + qy * qy)
        edge = OBJECT_RADIUS * _lobe_factor(scene, qx, qy, radius) if scene.lobes else OBJECT_RADIUS
        inside = (edge - radius) * scale  # signed screen distance to the silhouette
        mask = np.clip(inside + 0.5, 0.0, 1.0)[..., None]
        sprite = cv2.remap(
            scene.sprite, qx + SPRITE_HALF, qy + SPRITE_HALF, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )  # fmt: skip
        shift = np.float32([[1, 0, _PAD + cx], [0, 1, _PAD + cy]])
        frame = cv2.warpAffine(
            scene.background, shift, (FRAME_WIDTH, FRAME_HEIGHT),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        ).astype(np.float32)  # fmt: skip
        for screen_rows, window_rows in row_pieces:
            for screen_cols, window_cols in col_pieces:
                under = frame[screen_rows, screen_cols]
                alpha = mask[window_rows, window_cols]
                under += alpha * (sprite[window_rows, window_cols] - under)
        ox, oy = rng.integers(0, _NOISE_MARGIN, size=2)
        frame += noise[oy : oy + FRAME_HEIGHT, ox : ox + FRAME_WIDTH]
        rgb[i] = np.clip(frame, 0, 255, out=frame)
        if i + 1 < count:
            step = trajectory.camera[i + 1] - trajectory.camera[i]
            move = trajectory.position[i + 1] - trajectory.position[i] - step
            turn = trajectory.angle[i + 1] - angle
            grow = trajectory.scale[i + 1] / scale
            a, b = grow * math.cos(turn) - 1.0, grow * math.sin(turn)
            on_object = inside >= 0.0
            flow_x = move[0] + a * dx - b * dy
            flow_y = move[1] + b * dx + a * dy
            flow[i] = -step
            for screen_rows, window_rows in row_pieces:
                for screen_cols, window_cols in col_pieces:
                    where = on_object[window_rows, window_cols]
                    target = flow[i, screen_rows, screen_cols]
                    np.copyto(target[..., 0], flow_x[window_rows, window_cols], where=where)
                    np.copyto(target[..., 1], flow_y[window_rows, window_cols], where=where)
    return rgb, flow
