"""What `eval.py` runs: evaluate one stream's checkpoint, or fuse score files.

`fuse_files` reads `scores.npz` files of several streams, fuses them (evaluation/fusion.py)
and writes the same reports as a stream evaluation, plus the Spatial | Temporal | Fused table.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

import tensorflow as tf

from evaluation import fusion, metrics, reports
from evaluation.scores import SCORES_FILE, VideoScores, load_scores, save_scores


def row_names(streams: Sequence[str]) -> list[str]:
    """Table row names: 'Spatial', 'Temporal'; repeated streams get their position appended."""
    names = []
    for index, stream in enumerate(streams):
        name = stream.capitalize()
        names.append(f"{name} #{index + 1}" if streams.count(stream) > 1 else name)
    return names


def write_outputs(
    output_dir: str,
    scores: VideoScores,
    extra: Mapping[str, object],
    row_name: str,
    other_rows: Sequence[tuple[str, Mapping[str, object]]],
    notes: Sequence[str],
    title: str,
) -> dict[str, object]:
    """Writes scores.npz and the reports of `scores` into `output_dir`.

    Args:
      output_dir: any tf.io.gfile directory (created).
      scores: the per-video scores to report.
      extra: entries added to metrics.json (provenance).
      row_name: name of the table row of `scores` in results.md.
      other_rows: table rows above it (e.g. the fused streams), see reports.metrics_table.
      notes: bullet points of results.md after the class and protocol notes.
      title: results.md heading and plot title.

    Returns:
      The metrics written to metrics.json.
    """
    computed = metrics.compute_metrics(scores.labels, scores.scores, list(scores.class_names))
    result = {
        **computed,
        "stream": scores.stream,
        "subset": scores.subset,
        "num_samples": scores.num_samples,
        "num_crops": scores.num_crops,
        "num_views_per_video": scores.num_views_per_video,
        "checkpoint": scores.checkpoint,
        **extra,
    }
    tf.io.gfile.makedirs(output_dir)
    save_scores(posixpath.join(output_dir, SCORES_FILE), scores)
    counts = metrics.confusion(scores.labels, scores.scores, len(scores.class_names))
    rows = [*other_rows, (row_name, result)]
    all_notes = [
        reports.classes_note(result),
        reports.protocol_note(scores.num_samples, scores.num_crops),
        *notes,
    ]
    reports.write_reports(
        output_dir, result, counts, list(scores.class_names), title, rows, all_notes
    )
    return result


def _summary(path: str, scores: VideoScores) -> dict[str, object]:
    computed = metrics.compute_metrics(scores.labels, scores.scores, list(scores.class_names))
    return {
        "path": path,
        "stream": scores.stream,
        "subset": scores.subset,
        "checkpoint": scores.checkpoint,
        **{k: computed[k] for k in ("top1", "top5", "mean_class_accuracy", "num_videos")},
    }


def fuse_files(
    score_paths: Sequence[str],
    output_dir: str,
    method: str,
    weights: Sequence[float] = (),
    train_score_paths: Sequence[str] = (),
) -> tuple[dict[str, object], str]:
    """Fuses streams' `scores.npz` files and writes the fused reports into `output_dir`.

    Args:
      score_paths: one scores.npz per stream, all of the same subset and videos.
      output_dir: where scores.npz, metrics.json, confusion.png and results.md go.
      method: one of fusion.FUSION_METHODS.
      weights: one weight per score file for 'weighted'.
      train_score_paths: training-subset scores.npz per stream, same order, for 'learned'.

    Returns:
      (fused metrics as written to metrics.json, Markdown table of the streams and the fusion).

    Raises:
      ValueError: an unreadable score file (naming it), or a fusion error (FusionError).
    """
    inputs = [(path, load_scores(path)) for path in score_paths]
    train_inputs = [(path, load_scores(path)) for path in train_score_paths]
    fused = fusion.fuse(inputs, method, weights, train_inputs)
    summaries = [_summary(path, scores) for path, scores in inputs]
    names = row_names([scores.stream for _, scores in inputs])
    label = method
    if method == "weighted":
        label += " " + ":".join(f"{w:g}" for w in weights)
    rows = list(zip(names, summaries, strict=True))
    extra = {
        "fusion": method,
        "fusion_weights": list(weights),
        "inputs": summaries,
        "train_inputs": list(train_score_paths),
    }
    notes = [f"{name}: `{path}`" for name, path in zip(names, score_paths, strict=True)]
    if method == "learned":
        notes.append(
            "Learned fusion: logistic regression on L2-normalised stream scores, fit on "
            f"the training subset ({', '.join(f'`{p}`' for p in train_score_paths)})."
        )
    title = f"Two-stream fusion ({label}), {fused.subset} subset"
    fused_row = f"Fused ({label})"
    result = write_outputs(output_dir, fused, extra, fused_row, rows, notes, title)
    return result, reports.metrics_table([*rows, (fused_row, result)])
