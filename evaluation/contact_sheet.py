"""A PNG contact sheet of one classified video: sampled frames, their flow, top-k bars.

    +---------+---------+---------+---------+
    | frame 3 | frame 17| frame 31| frame 45|    RGB frames the samples start at
    +---------+---------+---------+---------+
    | flow 3  | flow 17 | flow 31 | flow 45 |    flow from each frame to the next, as colour
    +---------+---------+---------+---------+
    | Spatial top-k | Temporal top-k | Fused | flow colours |   probability bars, chance
    +---------------+----------------+-------+--------------+   line at 1/classes; legend

Flow colours (`flow_to_rgb`): hue is the direction of motion (right red, down yellow-green,
left cyan, up violet: hue = atan2(y, x) / 360 degrees, image y pointing down), saturation
its speed relative to the fastest pixel shown, so still pixels are white; the legend is a
colour wheel of the same mapping (`legend_wheel`) labelled with the full-colour speed. The
frames and flow are what the model read: the stored JPEGs, flow dequantized to pixels. The
caller's notes (the protocol, the flow algorithm) go under the title, a warning (flow other
than the model's) at the bottom in red.

Drawn on a `matplotlib.figure.Figure` (no pyplot state), written with `tf.io.gfile`.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from matplotlib import colors, figure

# Speeds below this many pixels per frame are drawn white whatever the fastest pixel is,
# so a still video does not show amplified noise.
_MIN_FULL_SPEED = 1.0
_DPI = 100
_LEGEND_SIDE = 65  # pixels of the legend's colour wheel (odd: a centre pixel)


@dataclasses.dataclass(frozen=True)
class Preview:
    """One sampled position of a video, as the model read it.

    Attributes:
      frame: index of the RGB frame (the flow is the motion from it to the next frame).
      rgb: uint8 [H, W, 3], RGB order.
      flow: float32 [H, W, 2], x and y motion in pixels, or None (no temporal model).
    """

    frame: int
    rgb: np.ndarray
    flow: np.ndarray | None


def flow_to_rgb(flow: np.ndarray, full_speed: float) -> np.ndarray:
    """Colours flow: hue = direction, saturation = speed / full_speed (clipped), value 1.

    Args:
      flow: float [H, W, 2], x and y motion in pixels (image y points down).
      full_speed: speed (pixels) drawn fully saturated; at least `_MIN_FULL_SPEED` is used.

    Returns:
      uint8 [H, W, 3] RGB: zero motion white, rightward red, downward yellow-green
      (hue 0.25), leftward cyan, upward violet.
    """
    flow = np.asarray(flow, np.float32)
    x, y = flow[..., 0], flow[..., 1]
    hue = np.mod(np.arctan2(y, x) / (2 * np.pi), 1.0)
    saturation = np.clip(np.hypot(x, y) / max(full_speed, _MIN_FULL_SPEED), 0.0, 1.0)
    hsv = np.stack([hue, saturation, np.ones_like(hue)], axis=-1)
    return np.round(colors.hsv_to_rgb(hsv) * 255.0).astype(np.uint8)


def legend_wheel(side: int = _LEGEND_SIDE) -> np.ndarray:
    """The flow legend: `flow_to_rgb` of a disc whose rim moves at full speed, outward.

    Returns:
      uint8 [side, side, 3]: centre white (still), the rim's right red, bottom yellow-green,
      left cyan, top violet (image y down, as the flow); outside the disc white.
    """
    radius = (side - 1) / 2
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) - radius
    flow = np.stack([x, y], axis=-1) / radius  # speed 1 on the rim
    flow[np.hypot(x, y) > radius] = 0.0
    return flow_to_rgb(flow * _MIN_FULL_SPEED, _MIN_FULL_SPEED)


def sheet_figure(
    title: str,
    previews: Sequence[Preview],
    rankings: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    num_classes: int,
    notes: Sequence[str] = (),
    warning: str = "",
) -> figure.Figure:
    """The contact sheet as a Figure.

    Args:
      title: heading (the video and what was computed).
      previews: frames (and flow) to show, in time order; may be empty.
      rankings: (name, [(class name, probability), ...] most probable first) per panel,
        e.g. Spatial, Temporal, Fused.
      num_classes: C, the model's classes: the bars' chance line is at 1/C.
      notes: lines under the title, e.g. the protocol and the flow algorithm.
      warning: a line at the bottom in red, e.g. flow other than the model's; '' = none.

    Returns:
      A matplotlib Figure.
    """
    with_flow = any(p.flow is not None for p in previews)
    columns = max(len(previews), len(rankings) + with_flow, 1)
    image_rows = (1 + with_flow) if previews else 0
    top_k = max((len(r) for _, r in rankings), default=1)
    heights = [1.0] * image_rows + [0.25 + 0.22 * top_k]
    fig = figure.Figure(
        figsize=(3.0 * columns, 2.4 * sum(heights) + 0.6 + 0.2 * len(notes) + 0.3 * bool(warning)),
        layout="constrained",
    )
    fig.suptitle("\n".join([title, *notes]))
    if warning:
        fig.supxlabel(warning, color="tab:red", fontsize=10)
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    speeds = [np.hypot(*np.moveaxis(p.flow, -1, 0)) for p in previews if p.flow is not None]
    full_speed = max(
        max((float(np.percentile(s, 99)) for s in speeds), default=0.0), _MIN_FULL_SPEED
    )
    if previews:
        images = grid[:image_rows].subgridspec(image_rows, len(previews))
        for column, preview in enumerate(previews):
            axis = fig.add_subplot(images[0, column])
            axis.imshow(preview.rgb)
            axis.set_title(f"frame {preview.frame}", fontsize=9)
            axis.set_axis_off()
            if preview.flow is not None:
                axis = fig.add_subplot(images[1, column])
                axis.imshow(flow_to_rgb(preview.flow, full_speed))
                axis.set_title(f"flow {preview.frame} -> {preview.frame + 1}", fontsize=9)
                axis.set_axis_off()
    bars = grid[image_rows].subgridspec(1, (len(rankings) + with_flow) or 1)
    chance = 1.0 / num_classes
    for column, (panel, ranking) in enumerate(rankings):
        axis = fig.add_subplot(bars[0, column])
        labels = [class_name for class_name, _ in ranking][::-1]  # most probable on top
        values = [probability for _, probability in ranking][::-1]
        axis.barh(range(len(values)), values, color="tab:blue")
        axis.set_yticks(range(len(values)), labels, fontsize=8)
        axis.set_xlim(0.0, 1.0)
        axis.set_title(panel, fontsize=10)
        for row, value in enumerate(values):
            axis.text(min(value, 0.78) + 0.02, row, f"{value:.1%}", va="center", fontsize=8)
        axis.axvline(chance, color="tab:gray", linestyle="--", linewidth=1)
        axis.set_xlabel(f"probability (dashed: chance, 1/{num_classes})", fontsize=8)
    if with_flow:
        axis = fig.add_subplot(bars[0, len(rankings)])
        axis.imshow(legend_wheel())
        axis.set_title("flow colours", fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_xlabel(
            "hue: direction; saturation: speed\n"
            f"(white still, full colour {full_speed:.1f}+ px/frame)",
            fontsize=8,
        )
    return fig


def write_sheet(
    path: str,
    title: str,
    previews: Sequence[Preview],
    rankings: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    num_classes: int,
    notes: Sequence[str] = (),
    warning: str = "",
) -> str:
    """Draws the contact sheet (`sheet_figure`) and writes it as a PNG to `path` (any gfile path).

    Returns:
      `path`.
    """
    fig = sheet_figure(title, previews, rankings, num_classes, notes, warning)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())
    return path
