"""Training metrics between two log steps, TensorBoard scalars and progress lines with ETA."""

from __future__ import annotations

import dataclasses
import posixpath
import time

import numpy as np
import tensorflow as tf
from absl import logging

TRAIN_SUMMARIES = "train"


def format_duration(seconds: float) -> str:
    """Seconds -> '1h02m03s' / '2m03s' / '3s' (rounded down to whole seconds)."""
    total = int(max(seconds, 0.0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclasses.dataclass
class Window:
    """Sums over the steps since the last log line.

    Attributes:
      start: `time.perf_counter()` when the window opened.
      steps: steps taken.
      loss_sum: sum of the steps' mean losses.
      correct: correctly classified training examples.
      examples: training examples seen.
    """

    start: float = dataclasses.field(default_factory=time.perf_counter)
    steps: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    examples: int = 0

    def add(self, losses: list[float], correct: float, examples: int) -> None:
        """Adds the results of one call of the train function (one loss per step)."""
        self.steps += len(losses)
        self.loss_sum += float(sum(losses))
        self.correct += correct
        self.examples += examples

    def scalars(self, learning_rate: float) -> dict[str, float]:
        """loss, accuracy, learning_rate, examples_per_second and seconds_per_step."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return {
            "loss": self.loss_sum / self.steps,
            "accuracy": self.correct / self.examples,
            "learning_rate": learning_rate,
            "examples_per_second": self.examples / elapsed,
            "seconds_per_step": elapsed / self.steps,
        }


class Summaries:
    """Writes scalars under `W/train` (TensorBoard) when enabled (the chief), logs always."""

    def __init__(self, workdir: str, enabled: bool):
        if enabled:
            self._writer = tf.summary.create_file_writer(posixpath.join(workdir, TRAIN_SUMMARIES))
        else:
            self._writer = tf.summary.create_noop_writer()

    def write(self, step: int, total_steps: int, scalars: dict[str, float]) -> None:
        """Writes `scalars` at `step` and logs a progress line with the ETA."""
        with self._writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self._writer.flush()
        eta = format_duration((total_steps - step) * scalars["seconds_per_step"])
        logging.info(
            "step %d/%d  loss %.4f  accuracy %.3f  lr %.3g  %.1f examples/s  ETA %s",
            step,
            total_steps,
            scalars["loss"],
            scalars["accuracy"],
            scalars["learning_rate"],
            scalars["examples_per_second"],
            eta,
        )

    def close(self) -> None:
        """Flushes and closes the writer."""
        self._writer.close()


def read_scalars(workdir: str, subdir: str = TRAIN_SUMMARIES) -> dict[str, dict[int, float]]:
    """Reads back the scalars of `W/<subdir>`: tag -> step -> value (the last value written).

    Event files are read in name (= creation time) order, so a resumed run's values
    replace those of an earlier run at the same step. A file's truncated last record (its
    writer was killed) ends that file.
    """
    scalars: dict[str, dict[int, float]] = {}
    pattern = posixpath.join(workdir, subdir, "events.out.tfevents.*")
    for path in sorted(tf.io.gfile.glob(pattern)):
        try:
            for record in tf.data.TFRecordDataset(path):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    number = float(np.asarray(tf.make_ndarray(value.tensor)))
                    scalars.setdefault(value.tag, {})[int(event.step)] = number
        except tf.errors.DataLossError:
            logging.warning("%s: truncated last record ignored", path)
    return scalars
