"""What the Beam job reports while it runs: its Beam counters and each worker's progress log.

Counters (namespace `COUNTERS`) are summed over the workers into `JobResult.counters`
(`read_counters`): clips read, written, failed, frames, records and shard bytes, and with the
videos source clips computed or taken from the flow cache, flow pairs and compute time.
Each worker logs every `_LOG_EVERY` clips it staged and, for every clip whose flow it
computed, its throughput and an ETA (`WorkerProgress`).
"""

from __future__ import annotations

import collections

from absl import logging
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult

COUNTERS = "preprocessing"  # Beam metrics namespace
_LOG_EVERY = 100


def count(name: str, value: int = 1) -> None:
    """Adds `value` to the job's counter `name` (inside a Beam transform; a no-op outside)."""
    Metrics.counter(COUNTERS, name).inc(value)


def read_counters(result: PipelineResult) -> dict[str, int]:
    """The finished job's counters by name, committed values summed over the workers."""
    counters: dict[str, int] = collections.Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(COUNTERS))["counters"]:
        counters[counter.key.metric.name] += counter.committed
    return dict(counters)


class WorkerProgress:
    """One worker's clips staged and flow computed: counters, and log lines with an ETA.

    Args:
      num_clips: clips in the whole job.
    """

    def __init__(self, num_clips: int):
        self._num_clips = num_clips
        self._done = 0
        self._computed = 0
        self._pairs = 0
        self._compute_s = 0.0

    def clip_staged(self, video_id: str) -> None:
        """Counts a clip whose records this worker staged; logs every `_LOG_EVERY`."""
        self._done += 1
        if self._done % _LOG_EVERY == 0:
            logging.info("staged %d clips in this worker (last: %s)", self._done, video_id)

    def flow_computed(self, video_id: str, pairs: int, seconds: float) -> None:
        """Counts a clip whose `pairs` flow pairs took `seconds`; logs pairs/s and an ETA."""
        count("clips_computed")
        count("flow_pairs_computed", pairs)
        count("flow_compute_ms", round(seconds * 1000))
        self._computed += 1
        self._pairs += pairs
        self._compute_s += seconds
        # Cached clips cost ~nothing, so the rest is priced at this worker's computed clips.
        left = self._num_clips - self._done - 1
        eta_s = left * self._compute_s / self._computed
        logging.info(
            "%s: %d flow pairs in %.1f s; this worker: %d of %d clips, %.1f pairs/s, "
            "ETA %.0f s for the job alone (divide by the workers running)",
            video_id,
            pairs,
            seconds,
            self._done + 1,
            self._num_clips,
            self._pairs / max(self._compute_s, 1e-9),
            eta_s,
        )
