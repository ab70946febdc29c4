"""The Beam job: listed UCF-101 clips -> deterministic TFRecord shards + failures + manifest.

Graph (`build_pipeline`)::

    Create(clips) -> Reshuffle -> ParDo(_StageClip) --failures--------------------------+
        | one record per clip, staged as OUT/.staging/<subset>/<id>.tfrecord          |
        +-> bytes per subset -> shards per subset (side input)                         |
        +-> key (subset, stable_hash(id) % shards) -> GroupByKey (ids + paths only)    |
            -> ParDo(_WriteShard): staged files concatenated in record order           |
               into OUT/.staging/shards/<subset>-SSSSS-of-NNNNN.tfrecord               |
    Create([None]) -> ParDo(_Finalize) with shards and failures as side inputs <-------+
        renames shards into OUT, deletes stale shards, writes failures.jsonl, then
        manifest.json (last, atomic), then removes OUT/.staging.

Staging keeps every stage streaming: grouping the records themselves would hold the whole
dataset (~9 GB of UCF-101 frames) in the DirectRunner's memory, while TFRecord files
concatenate byte-exactly. A clip's shard and its place in it depend on its id only (see
`preprocessing.sharding`), so the same inputs and flags give byte-identical shards.

Atomicity: `run` deletes the old manifest before the pipeline starts and the manifest is
written last, so a crashed run never leaves a manifest pointing at partial shards; a re-run
replaces shards and removes those the new manifest does not list (`preprocessing.outputs`).
"""

from __future__ import annotations

import collections
import dataclasses

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import outputs, sharding, ucf101
from preprocessing.clip_sources import SOURCES, ClipError, read_clip
from preprocessing.errors import DatasetError
from preprocessing.layout import Layout, SourceIndex
from preprocessing.optical_flow import FLOW_ALGORITHMS
from preprocessing.outputs import Failure, TempShard
from tfrecords.manifest import Manifest, read_manifest, write_manifest
from tfrecords.schema import SCHEMA_VERSION, encode_video

STAGE_INTERNAL = "internal"  # an unexpected error (a bug or an I/O fault), with its type
COUNTERS = "preprocessing"  # Beam metrics namespace
_FAILURES = "failures"
_LOG_EVERY = 100


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """What the job reads and writes (Beam's own options travel separately).

    Attributes:
      splits_dir: the `ucfTrainTestlist` folder.
      layout: where videos, frames and flow are.
      split: official split, 1-3.
      subsets: subsets to write, from ('train', 'test').
      source: 'frames' (archives, bytes kept) or 'videos' (decode + compute flow).
      flow_algorithm: one of FLOW_ALGORITHMS (videos source only).
      output_dir: where shards, failures.jsonl and manifest.json go.
      num_shards: shards per subset; None derives them from `shard_size_mb`.
      shard_size_mb: target shard size in MB (10^6 bytes) when `num_shards` is None.
      command_line: recorded in the manifest.
    """

    splits_dir: str
    layout: Layout
    split: int
    subsets: tuple[str, ...]
    source: str
    flow_algorithm: str
    output_dir: str
    num_shards: int | None
    shard_size_mb: float
    command_line: str

    def check(self) -> None:
        """Raises ValueError naming the flag of the first bad value."""
        if self.split not in ucf101.SPLITS:
            raise ValueError(f"--split must be one of {ucf101.SPLITS}, got {self.split!r}")
        if not self.subsets or len(set(self.subsets)) != len(self.subsets):
            raise ValueError(f"--subsets must name distinct subsets, got {self.subsets!r}")
        for subset in self.subsets:
            if subset not in ucf101.SUBSETS:
                raise ValueError(f"--subsets: {subset!r} is not one of {ucf101.SUBSETS}")
        if self.source not in SOURCES:
            raise ValueError(f"--source must be one of {SOURCES}, got {self.source!r}")
        if self.flow_algorithm not in FLOW_ALGORITHMS:
            raise ValueError(
                f"--flow_algorithm must be one of {FLOW_ALGORITHMS}, got {self.flow_algorithm!r}"
            )
        if not self.output_dir:
            raise ValueError("--output_dir is required")
        if self.num_shards is not None and self.num_shards < 1:
            raise ValueError(f"--num_shards must be at least 1, got {self.num_shards}")
        if not self.shard_size_mb > 0:
            raise ValueError(f"--shard_size_mb must be positive, got {self.shard_size_mb}")

    @property
    def source_name(self) -> str:
        """The records' `ucf101/source`: 'frames' or 'videos/<flow algorithm>'."""
        return self.source if self.source == "frames" else f"{self.source}/{self.flow_algorithm}"


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What `run` returns: the manifest it wrote and the job's Beam counters by name."""

    manifest: Manifest
    counters: dict[str, int]


@dataclasses.dataclass(frozen=True)
class _Staged:
    subset: str
    video_id: str
    class_name: str
    path: str
    num_bytes: int


def _count(name: str, value: int = 1) -> None:
    Metrics.counter(COUNTERS, name).inc(value)


class _StageClip(beam.DoFn):
    """Clip -> staged record file (main output) or Failure (tagged output)."""

    def __init__(self, index: SourceIndex, config: JobConfig):
        self._index = index
        self._source = config.source
        self._flow_algorithm = config.flow_algorithm
        self._output_dir = config.output_dir
        self._done = 0

    def process(self, clip: ucf101.Clip):
        _count("clips_read")
        try:
            video = read_clip(clip, self._index, self._source, self._flow_algorithm)
            record = encode_video(video)
        except ClipError as e:
            stage, error = e.stage, str(e)
        except Exception as e:  # reported per clip: one odd clip must not end a long job
            logging.exception("%s: unexpected error", clip.video_id)
            stage, error = STAGE_INTERNAL, f"{type(e).__name__}: {e}"
        else:
            path = outputs.staged_record_path(self._output_dir, clip.subset, clip.video_id)
            with tf.io.TFRecordWriter(path) as writer:
                writer.write(record)
            _count("rgb_frames", len(video.rgb))
            _count("flow_frames", len(video.flow_x))
            self._done += 1
            if self._done % _LOG_EVERY == 0:
                logging.info("staged %d clips in this worker (last: %s)", self._done, clip.video_id)
            num_bytes = len(record) + sharding.TFRECORD_FRAMING_BYTES
            yield _Staged(clip.subset, clip.video_id, clip.class_name, path, num_bytes)
            return
        _count("clips_failed")
        logging.warning("%s (%s) failed at stage %s: %s", clip.video_id, clip.subset, stage, error)
        yield beam.pvalue.TaggedOutput(_FAILURES, Failure(clip.subset, clip.video_id, stage, error))


class _WriteShard(beam.DoFn):
    """((subset, index, num_shards), staged records) -> one temp shard file."""

    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element: tuple[tuple[str, int, int], list[_Staged]]):
        (subset, index, num_shards), staged = element
        records = sorted(staged, key=lambda s: sharding.record_order(s.video_id))
        name = sharding.shard_name(subset, index, num_shards)
        path = outputs.temp_shard_path(self._output_dir, name)
        num_bytes = 0
        with tf.io.gfile.GFile(path, "wb") as out:
            for record in records:
                with tf.io.gfile.GFile(record.path, "rb") as f:
                    data = f.read()
                out.write(data)
                num_bytes += len(data)
        _count("clips_written", len(records))
        _count("shard_bytes", num_bytes)
        per_class = collections.Counter(r.class_name for r in records)
        logging.info("wrote %s: %d records, %d bytes", path, len(records), num_bytes)
        yield TempShard(
            subset,
            index,
            num_shards,
            path,
            len(records),
            num_bytes,
            tuple(sorted(per_class.items())),
        )


class _Finalize(beam.DoFn):
    """Moves shards into place and writes failures.jsonl, then manifest.json."""

    def __init__(self, config: JobConfig, class_names: list[str], listed: dict[str, int]):
        self._config = config
        self._class_names = class_names
        self._listed = listed

    def process(self, unused_element: None, temp_shards: list[TempShard], failures: list[Failure]):
        out = self._config.output_dir
        written = {subset: 0 for subset in self._listed}
        failed = {subset: 0 for subset in self._listed}
        per_class = {subset: dict.fromkeys(self._class_names, 0) for subset in self._listed}
        for temp in temp_shards:
            written[temp.subset] += temp.num_records
            for name, count in temp.per_class:
                per_class[temp.subset][name] += count
        for failure in failures:
            failed[failure.subset] += 1
        for subset, listed in self._listed.items():
            if written[subset] + failed[subset] != listed:
                raise RuntimeError(
                    f"internal error: {subset}: {listed} clips listed but {written[subset]} "
                    f"written and {failed[subset]} failed; no manifest written"
                )
        shards = outputs.publish_shards(out, temp_shards)
        outputs.delete_stale_shards(out, {shard.path for shard in shards})
        outputs.write_failures(out, failures)
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            split=self._config.split,
            source=self._config.source_name,
            class_names=list(self._class_names),
            listed=dict(self._listed),
            written=written,
            failed=failed,
            per_class=per_class,
            shards=shards,
            command_line=self._config.command_line,
        )
        write_manifest(out, manifest)
        outputs.remove_staging(out)
        logging.info("wrote %s: %s written, %s failed", out, written, failed)


def _shards_per_subset(
    subset_bytes: tuple[str, int], fixed: int | None, shard_bytes: int
) -> tuple[str, int]:
    subset, total_bytes = subset_bytes
    if fixed is not None:
        return subset, fixed
    return subset, sharding.num_shards_for(total_bytes, shard_bytes)


def _key_by_shard(
    staged: _Staged, num_shards: dict[str, int]
) -> tuple[tuple[str, int, int], _Staged]:
    count = num_shards[staged.subset]
    return (staged.subset, sharding.shard_index(staged.video_id, count), count), staged


def build_pipeline(
    pipeline: beam.Pipeline,
    config: JobConfig,
    clips: list[ucf101.Clip],
    index: SourceIndex,
    class_names: list[str],
    listed: dict[str, int],
) -> None:
    """Adds the job's transforms (see the module docstring) to `pipeline`."""
    results = (
        pipeline
        | "ListClips" >> beam.Create(clips)
        | "Spread" >> beam.Reshuffle()
        | "ReadClips"
        >> beam.ParDo(_StageClip(index, config)).with_outputs(_FAILURES, main="staged")
    )
    staged = results["staged"]
    shard_bytes = round(config.shard_size_mb * 1e6)
    num_shards = (
        staged
        | "RecordBytes" >> beam.Map(lambda s: (s.subset, s.num_bytes))
        | "BytesPerSubset" >> beam.CombinePerKey(sum)
        | "ShardsPerSubset" >> beam.Map(_shards_per_subset, config.num_shards, shard_bytes)
    )
    temp_shards = (
        staged
        | "KeyByShard" >> beam.Map(_key_by_shard, num_shards=beam.pvalue.AsDict(num_shards))
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(_WriteShard(config.output_dir))
    )
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "Finalize"
        >> beam.ParDo(
            _Finalize(config, class_names, listed),
            temp_shards=beam.pvalue.AsList(temp_shards),
            failures=beam.pvalue.AsList(results[_FAILURES]),
        )
    )


def _check_layout(index: SourceIndex, config: JobConfig) -> None:
    layout = config.layout
    needed = {
        "frames": [
            (index.has_frames, f"--frames_dir={layout.frames_dir}"),
            (index.has_flow, f"--flow_dir={layout.flow_dir} (with u/ and v/)"),
        ],
        "videos": [(index.has_videos, f"--videos_dir={layout.videos_dir}")],
    }[config.source]
    for present, where in needed:
        if not present:
            raise DatasetError(
                f"{where}: folder not found, and --source={config.source} needs it; pass "
                "--root (or the folder flag) pointing at your UCF-101 copy (see WORKSPACE.md)"
            )


def run(config: JobConfig, options: PipelineOptions) -> JobResult:
    """Lists the clips, runs the job to completion and returns its manifest and counters.

    Raises:
      ValueError: a bad config value (names the flag).
      DatasetError: unreadable split files or a missing source folder.
      RuntimeError: the pipeline did not finish.
    """
    config.check()
    class_names = ucf101.read_class_index(config.splits_dir)
    subsets = ucf101.read_splits(config.splits_dir, config.split)
    clips = sorted((c for s in config.subsets for c in subsets[s]), key=lambda c: c.video_id)
    listed = {s: len(subsets[s]) for s in config.subsets}
    index = SourceIndex(config.layout)
    _check_layout(index, config)
    outputs.prepare(config.output_dir, config.subsets)
    logging.info("%d clips listed (%s), source %s", len(clips), listed, config.source_name)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, config, clips, index, class_names, listed)
    result = pipeline.run()
    state = result.wait_until_finish()
    if state != beam.runners.runner.PipelineState.DONE:
        raise RuntimeError(f"the Beam job ended in state {state}; see its logs")
    counters: dict[str, int] = collections.Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(COUNTERS))["counters"]:
        counters[counter.key.metric.name] += counter.committed
    return JobResult(read_manifest(config.output_dir), dict(counters))
