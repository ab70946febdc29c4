"""What predict.py runs over its videos: a table each, the JSON list and contact sheets.

`expand_videos` turns `--video` (paths and glob patterns) into files; `predict_files`
classifies each with a loaded `evaluation.predictor.Predictor`, echoes its Markdown table
(`format_table`), writes the JSON list (`Prediction.to_json`) and each video's contact sheet
(`write_sheet`, evaluation/contact_sheet.py). A video that cannot be read is one `error:` line
on stderr (`tfrecords.errors.print_error`), the others go on.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Sequence

import tensorflow as tf
from absl import logging

from evaluation import contact_sheet
from evaluation.predictor import FUSED, PredictError, Prediction, Predictor
from optical_flow.video_frames import VideoError
from tfrecords.errors import print_error
from tfrecords.streams import STREAMS, TEMPORAL

# Positions a contact sheet shows.
SHEET_PREVIEWS = 4


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def format_table(prediction: Prediction, top_k: int) -> str:
    """A heading line and a Markdown table of the top-k classes per stream and fused."""
    names = [n for n in (*STREAMS, FUSED) if n in prediction.scores]
    rankings = {n: prediction.ranking(n, top_k) for n in names}
    seconds = prediction.seconds
    flow = ""
    if prediction.flow_algorithm is not None and TEMPORAL.name in prediction.scores:
        flow = (
            f", {prediction.flow_algorithm} flow {seconds['flow']:.2f} s "
            f"({prediction.flow_pairs} of {prediction.frames - 1} pairs)"
        )
    views = ", ".join(f"{n} {v}" for n, v in prediction.num_views.items())
    lines = [
        f"{prediction.video}: {prediction.frames} frames; decode {seconds['decode']:.2f} s"
        f"{flow}, model {seconds['model']:.2f} s (views: {views})",
        "| # | " + " | ".join(n.capitalize() for n in names) + " |",
        "|---:|" + "---|" * len(names),
    ]
    for rank in range(len(rankings[FUSED])):
        cells = [f"{rankings[n][rank][0]} {_percent(rankings[n][rank][1])}" for n in names]
        lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def expand_videos(patterns: Sequence[str]) -> list[str]:
    """Paths and glob patterns (`*`, `?`, `[`) -> paths, patterns expanded in sorted order.

    Raises:
      PredictError: a pattern that matches no file, or no path at all.
    """
    paths = []
    for pattern in patterns:
        if not any(c in pattern for c in "*?["):
            paths.append(pattern)
            continue
        matches = sorted(tf.io.gfile.glob(pattern))
        if not matches:
            raise PredictError(f"video pattern {pattern!r}: matches no file")
        paths.extend(matches)
    if not paths:
        raise PredictError("no videos: give video files or glob patterns")
    return paths


def sheet_path(sheet: str, video: str, several: bool) -> str:
    """Where a video's contact sheet goes: `sheet`, or `<sheet stem>_<video stem>.png`."""
    if not several:
        return sheet
    stem = posixpath.splitext(posixpath.basename(video))[0]
    return f"{posixpath.splitext(sheet)[0]}_{stem}.png"


def sheet_notes(prediction: Prediction) -> tuple[list[str], str]:
    """The sheet's lines under the title (protocol, flow) and its warning ('' = none).

    The protocol is K samples x V crops per stream (one line when the streams agree); the
    warning says when the flow computed is not the one the temporal model learnt from.
    """
    protocols = {f"{k} samples x {v} crops" for k, v in prediction.protocol.values()}
    if len(protocols) == 1:
        protocol = f"protocol: {protocols.pop()}"
    else:
        protocol = "protocol: " + ", ".join(
            f"{name} {k} samples x {v} crops" for name, (k, v) in prediction.protocol.items()
        )
    notes = [protocol] if prediction.protocol else []
    flow, trained = prediction.flow_algorithm, prediction.trained_flow_algorithm
    if flow:
        notes.append(f"flow: {flow}")
    warning = ""
    if flow and trained and flow != trained:
        warning = (
            f"warning: flow computed with {flow}, the temporal model learnt from {trained} "
            "flow: its scores differ from eval.py's"
        )
    return notes, warning


def write_sheet(prediction: Prediction, path: str, top_k: int) -> str:
    """Writes the prediction's contact sheet (evaluation/contact_sheet.py) to `path`."""
    names = [n for n in (*STREAMS, FUSED) if n in prediction.scores]
    rankings = [(n.capitalize(), prediction.ranking(n, top_k)) for n in names]
    title = f"{posixpath.basename(prediction.video)}: {prediction.frames} frames"
    notes, warning = sheet_notes(prediction)
    return contact_sheet.write_sheet(
        path,
        title,
        prediction.previews,
        rankings,
        len(prediction.class_names),
        notes,
        warning,
    )


def predict_files(
    predictor: Predictor,
    videos: Sequence[str],
    top_k: int,
    output_json: str = "",
    sheet: str = "",
    echo: Callable[[str], None] = print,
) -> int:
    """Classifies each video: echoes its table, writes the JSON list and contact sheets.

    A video that fails is one `error:` line on stderr and skipped; the JSON holds the
    others, and is not written when every video failed (an existing file is kept).

    Args:
      predictor: the loaded models.
      videos: video files.
      top_k: classes per stream in the tables and sheets (the JSON lists every class).
      output_json: file for the JSON list, one object per video ('' = none).
      sheet: PNG path of the contact sheet ('' = none); with several videos each gets
        `sheet_path(sheet, video, True)`.
      echo: where the tables go.

    Returns:
      The number of videos that failed.

    Raises:
      PredictError: `top_k` is not a positive integer.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise PredictError(f"top_k={top_k!r}: use a positive integer")
    results, failed = [], 0
    for video in videos:
        try:
            prediction = predictor.predict(video, SHEET_PREVIEWS if sheet else 0)
        except VideoError as e:
            print_error(str(e))  # one `error:` line, like the run's own errors
            failed += 1
            continue
        echo(format_table(prediction, top_k) + "\n")
        if sheet:
            path = write_sheet(prediction, sheet_path(sheet, video, len(videos) > 1), top_k)
            logging.info("contact sheet: %s", path)
        results.append(prediction.to_json())
    if output_json and not results:
        print_error(f"no video was classified: {output_json} not written")
    elif output_json:
        with tf.io.gfile.GFile(output_json, "w") as f:
            f.write(json.dumps(results, indent=2))
        logging.info("%d predictions written to %s", len(results), output_json)
    return failed
