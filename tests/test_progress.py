"""The Beam job's counters and the workers' progress log (`preprocessing.progress`)."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import progress


def test_counters_are_summed_over_elements_by_name():
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = (
        pipeline
        | beam.Create([1, 2, 3])
        | beam.Map(lambda x: (progress.count("values", x), progress.count("elements")))
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert progress.read_counters(result) == {"values": 6, "elements": 3}


def _logged(monkeypatch) -> list[str]:
    """The messages `progress` logs at INFO from now on (absl's handler state aside)."""
    messages = []
    monkeypatch.setattr(progress.logging, "info", lambda msg, *args: messages.append(msg % args))
    return messages


def test_flow_eta_prices_the_clips_left_at_this_workers_compute_rate(monkeypatch):
    messages = _logged(monkeypatch)
    worker = progress.WorkerProgress(num_clips=10)
    worker.flow_computed("a", pairs=20, seconds=2.0)  # 9 clips left at 2 s each
    worker.clip_staged("a")
    worker.flow_computed("b", pairs=10, seconds=3.0)  # 8 left at (2 + 3) / 2 s each
    assert messages == [
        "a: 20 flow pairs in 2.0 s; this worker: 1 of 10 clips, 10.0 pairs/s, "
        "ETA 18 s for the job alone (divide by the workers running)",
        "b: 10 flow pairs in 3.0 s; this worker: 2 of 10 clips, 6.0 pairs/s, "
        "ETA 20 s for the job alone (divide by the workers running)",
    ]


def test_staged_clips_are_logged_every_hundred(monkeypatch):
    messages = _logged(monkeypatch)
    worker = progress.WorkerProgress(num_clips=250)
    for i in range(250):
        worker.clip_staged(f"v{i}")
    assert messages == [
        "staged 100 clips in this worker (last: v99)",
        "staged 200 clips in this worker (last: v199)",
    ]
