"""Evaluation reports: `metrics.json`, `confusion.png`, `results.md` and the printed table.

An output directory (`W/eval/` of one stream, or `--output_dir` of a fusion) holds::

    scores.npz     per-video scores (evaluation/scores.py)
    metrics.json   compute_metrics() plus how the scores were made (stream, subset, views,
                   `checkpoint` path and its `step`...)
    confusion.png  row-normalised confusion matrix (rows: true class, columns: prediction)
    results.md     a short table to paste into a README
"""

from __future__ import annotations

import io
import json
import posixpath
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from matplotlib import figure

METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion.png"
RESULTS_FILE = "results.md"
# Above this many classes the plot shrinks tick labels and drops per-cell numbers.
_MANY_CLASSES = 30


def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def metrics_table(rows: Sequence[tuple[str, Mapping[str, object]]]) -> str:
    """A Markdown table with one row per (name, metrics) pair, in the seed's layout.

    Args:
      rows: e.g. [('Spatial', m1), ('Temporal', m2), ('Fused (average)', m3)], each metrics
        dict holding `top1`, `top5`, `mean_class_accuracy` and `num_videos`.

    Returns:
      Lines `| | Top-1 | Top-5 | Mean class | Videos |` and one line per row.
    """
    lines = ["| | Top-1 | Top-5 | Mean class | Videos |", "|---|---:|---:|---:|---:|"]
    for name, m in rows:
        lines.append(
            f"| {name} | {_percent(m['top1'])} | {_percent(m['top5'])} | "
            f"{_percent(m['mean_class_accuracy'])} | {m['num_videos']} |"
        )
    return "\n".join(lines)


def results_markdown(
    title: str, rows: Sequence[tuple[str, Mapping[str, object]]], notes: Sequence[str]
) -> str:
    """The text of `results.md`: a heading, `metrics_table(rows)` and bullet notes."""
    bullets = "\n".join(f"- {note}" for note in notes)
    return f"# {title}\n\n{metrics_table(rows)}\n\n{bullets}\n"


def checkpoint_text(checkpoint: str, step: int) -> str:
    """How results.md shows a checkpoint: `` `W/checkpoints/ckpt-N` (step N) ``."""
    return f"`{checkpoint}` (step {step})"


def protocol_note(num_samples: int, num_crops: int, view_aggregation: str = "mean") -> str:
    """One sentence describing the test protocol ('mean' or 'vote' of a video's views)."""
    combined = {
        "mean": "softmax scores averaged per video",
        "vote": "each view votes for its arg-max class, ties broken by the mean softmax score",
    }[view_aggregation]
    return (
        f"Protocol: {num_samples} samples x {num_crops} crops = {num_samples * num_crops} "
        f"views per video, {combined}, model in inference mode."
    )


def classes_note(metrics: Mapping[str, object]) -> str:
    """One sentence on the evaluated videos and classes (naming classes without videos)."""
    missing = metrics["classes_without_videos"]
    text = f"{metrics['num_videos']} videos of {metrics['num_classes']} classes"
    if missing:
        text += (
            f"; {len(missing)} classes without videos are excluded from the mean-class "
            f"accuracy: {', '.join(missing)}"
        )
    text += "."
    if int(metrics["num_classes"]) <= 5:
        text += " Top-5 is 100% by definition with at most 5 classes."
    return text


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], title: str) -> figure.Figure:
    """Plots a row-normalised confusion matrix, readable from 4 to 101+ classes.

    Args:
      counts: int [C, C], row = true class, column = predicted class.
      class_names: C names in label order.
      title: figure title.

    Returns:
      A matplotlib Figure (no pyplot state involved).
    """
    num_classes = len(class_names)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape, np.float64), where=totals > 0)
    many = num_classes > _MANY_CLASSES
    side = min(max(0.19 * num_classes + 3.0, 6.0), 24.0)
    fig = figure.Figure(figsize=(side, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.04, label="fraction of the true class's videos")
    font = 5 if many else 9
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels=list(class_names), fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if not many:
        for row in range(num_classes):
            for col in range(num_classes):
                if counts[row, col]:
                    value = normalised[row, col]
                    ax.text(
                        col,
                        row,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=font,
                        color="white" if value > 0.5 else "black",
                    )
    return fig


def write_text(path: str, text: str) -> None:
    """Writes text through tf.io.gfile."""
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def write_reports(
    output_dir: str,
    metrics: Mapping[str, object],
    counts: np.ndarray,
    class_names: Sequence[str],
    title: str,
    rows: Sequence[tuple[str, Mapping[str, object]]],
    notes: Sequence[str],
) -> None:
    """Writes metrics.json, confusion.png and results.md into `output_dir` (created).

    Args:
      output_dir: any tf.io.gfile directory.
      metrics: JSON-serializable metrics (written as is).
      counts: int [C, C] confusion counts.
      class_names: C names in label order.
      title: heading of results.md and of the plot.
      rows: table rows of results.md (see `metrics_table`).
      notes: bullet points under the table.
    """
    tf.io.gfile.makedirs(output_dir)
    write_text(
        posixpath.join(output_dir, METRICS_FILE), json.dumps(metrics, indent=2, sort_keys=True)
    )
    fig = confusion_figure(counts, class_names, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    with tf.io.gfile.GFile(posixpath.join(output_dir, CONFUSION_FILE), "wb") as f:
        f.write(buffer.getvalue())
    write_text(posixpath.join(output_dir, RESULTS_FILE), results_markdown(title, rows, notes))
