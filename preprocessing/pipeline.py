"""The Beam job: a dataset's listed clips -> deterministic TFRecord shards + failures + manifest.

Writes schema version 2 (tfrecords/schema.py): per clip, K strided RGB chunk records (K =
`--rgb_chunks` for train, 1 for test: evaluation reads whole videos) and one flow record, in
separate shards per (subset, modality).

Graph (`build_pipeline`)::

    Create(clips) -> Reshuffle -> ParDo(_StageClip) --failures--------------------------+
        | all records of a clip (K RGB + 1 flow) or none, each staged as               |
        | OUT/.staging/<subset>/<modality>/<id>-<chunk>.tfrecord                       |
        +-> bytes per (subset, modality) -> shard counts (side input)                  |
        +-> key (subset, modality, stable_hash(<id>/<chunk>) % shards)                 |
            -> GroupByKey (ids + paths only)                                           |
            -> ParDo(_WriteShard): staged files concatenated in record order           |
               into OUT/.staging/shards/<subset>-<modality>-SSSSS-of-NNNNN.tfrecord    |
    Create([None]) -> ParDo(_Finalize) with shards and failures as side inputs <-------+
        checks the accounting, renames shards into OUT, deletes stale (and schema-v1)
        shards, writes failures.jsonl, then manifest.json (last, atomic), then removes
        OUT/.staging.

Staging keeps every stage streaming: grouping the records themselves would hold the whole
dataset (~9 GB of UCF-101 frames) in the DirectRunner's memory, while TFRecord files
concatenate byte-exactly. A record's shard and its place in it depend on its video id and
chunk only (see `preprocessing.sharding`), so the same inputs and flags give byte-identical
shards.

Atomicity: `run` deletes the old manifest before the pipeline starts and the manifest is
written last, so a crashed run never leaves a manifest pointing at partial shards; a re-run
replaces shards and removes those the new manifest does not list (`preprocessing.outputs`).
"""

from __future__ import annotations

import collections
import dataclasses
import time

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import datasets, outputs, sharding, ucf101, validation
from preprocessing.clip_sources import SOURCES, ClipError, read_clip, videos_source_name
from preprocessing.dataset import Clip, Dataset, write_class_index
from preprocessing.errors import DatasetError
from preprocessing.flow_cache import FlowCache
from preprocessing.folder import DEFAULT_TEST_FRACTION
from preprocessing.layout import Layout, SourceIndex
from preprocessing.optical_flow import FLOW_ALGORITHMS
from preprocessing.outputs import Failure, TempShard
from tfrecords.manifest import Manifest, read_manifest, shard_name, write_manifest
from tfrecords.schema import (
    FLOW_MODALITY,
    MODALITIES,
    RGB_MODALITY,
    SCHEMA_VERSION,
    Video,
    check_num_chunks,
    encode_records,
)

DEFAULT_RGB_CHUNKS = 8  # --rgb_chunks
# Subsets whose RGB is written as `rgb_chunks` strided chunks; the others (evaluation) are
# written as whole videos, one record each.
CHUNKED_SUBSETS = ("train",)
STAGE_INTERNAL = "internal"  # an unexpected error (a bug or an I/O fault), with its type
COUNTERS = "preprocessing"  # Beam metrics namespace
_FAILURES = "failures"
_LOG_EVERY = 100


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """What the job reads and writes (Beam's own options travel separately).

    Attributes:
      splits_dir: the dataset's split-files folder (ucf101: `ucfTrainTestlist`, hmdb51:
        `testTrainMulti_7030_splits`; unused by folder).
      layout: where videos, frames and flow are (folder: class folders in `videos_dir`).
      split: split number, 1-3 (the dataset says which it has).
      subsets: subsets to write, from ('train', 'val', 'test'); 'val' needs `val_groups` or
        `val_fraction` (`preprocessing.validation`).
      source: 'frames' (archives, bytes kept) or 'videos' (decode + compute flow).
      flow_algorithm: one of FLOW_ALGORITHMS (videos source only).
      output_dir: where shards, failures.jsonl and manifest.json go.
      num_shards: shards per (subset, modality); None derives them from `shard_size_mb`.
      shard_size_mb: target shard size in MB (10^6 bytes) when `num_shards` is None.
      command_line: recorded in the manifest.
      rgb_chunks: K, RGB records per train video (`rgb_chunks_for` gives a subset's).
      dataset: one of `preprocessing.datasets.DATASETS`.
      split_csv: folder only: CSV with the split (None: hash split).
      test_fraction: folder only, hash split: test fraction per class.
      verify_jpeg_decode: frames source: fully decode every JPEG at ingest, so scan-data
        damage is a `jpeg` failure (`preprocessing.clip_sources`); False checks markers only.
      flow_cache_dir: videos source: where each clip's frames and flow are kept, so a re-run
        computes only clips without a complete entry (`preprocessing.flow_cache`); None: no
        cache.
      val_groups: hold out this many training groups per class as the val subset.
      val_fraction: hold out this fraction of each class's training groups (or clips).
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
    rgb_chunks: int = DEFAULT_RGB_CHUNKS
    dataset: str = datasets.DEFAULT_DATASET
    split_csv: str | None = None
    test_fraction: float = DEFAULT_TEST_FRACTION
    verify_jpeg_decode: bool = True
    flow_cache_dir: str | None = None
    val_groups: int | None = None
    val_fraction: float | None = None

    def check(self) -> None:
        """Raises ValueError naming the flag of the first bad value."""
        if self.split not in ucf101.SPLITS:
            raise ValueError(f"--split must be one of {ucf101.SPLITS}, got {self.split!r}")
        if not self.subsets or len(set(self.subsets)) != len(self.subsets):
            raise ValueError(f"--subsets must name distinct subsets, got {self.subsets!r}")
        for subset in self.subsets:
            if subset not in validation.WRITABLE_SUBSETS:
                raise ValueError(
                    f"--subsets: {subset!r} is not one of {validation.WRITABLE_SUBSETS}"
                )
        validation.check(self.val_groups, self.val_fraction, self.subsets)
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
        if self.flow_cache_dir is not None and self.source != "videos":
            raise ValueError(
                f"--flow_cache_dir={self.flow_cache_dir} needs --source=videos, got "
                f"--source={self.source}"
            )
        check_num_chunks(self.rgb_chunks)
        self.open_dataset()  # checks --dataset, --split_csv, --test_fraction

    def open_dataset(self) -> Dataset:
        """The dataset to read (`preprocessing.datasets.create`); ValueError on bad flags."""
        return datasets.create(
            self.dataset, self.splits_dir, self.layout, self.split_csv, self.test_fraction
        )

    @property
    def split_rule(self) -> str:
        """The manifest's `split_rule`: the dataset's, and how val was held out."""
        val = validation.rule(self.val_groups, self.val_fraction)
        return "; ".join(r for r in (self.open_dataset().split_rule, val) if r)

    def rgb_chunks_for(self, subset: str) -> int:
        """RGB records per video of `subset`: `rgb_chunks` for train, 1 (whole) otherwise."""
        return self.rgb_chunks if subset in CHUNKED_SUBSETS else 1

    @property
    def source_name(self) -> str:
        """The records' `ucf101/source`: 'frames' or 'videos/<flow algorithm>'."""
        return self.source if self.source == "frames" else videos_source_name(self.flow_algorithm)

    @property
    def flow_cache(self) -> FlowCache | None:
        """The flow cache of `flow_cache_dir` and `flow_algorithm`, or None without one."""
        if self.flow_cache_dir is None:
            return None
        return FlowCache(self.flow_cache_dir, self.flow_algorithm)


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What `run` returns: the manifest it wrote and the job's Beam counters by name."""

    manifest: Manifest
    counters: dict[str, int]


@dataclasses.dataclass(frozen=True)
class _Staged:
    """One staged record: its file, and what its shard and the manifest need to know."""

    subset: str
    modality: str
    video_id: str
    chunk: int
    class_name: str
    path: str
    num_bytes: int
    frame_hw: tuple[int, int]

    @property
    def key(self) -> str:
        return sharding.record_key(self.video_id, self.chunk)


def _count(name: str, value: int = 1) -> None:
    Metrics.counter(COUNTERS, name).inc(value)


class _StageClip(beam.DoFn):
    """Clip -> all its staged records (main output, K RGB + 1 flow) or a Failure (tagged).

    The videos source counts `clips_computed`, `flow_pairs_computed` and `flow_compute_ms`
    (wall time in this worker's thread: pairs/s per core when each worker has one core and
    OpenCV no threads of its own; TV-L1 uses some), and with a flow cache
    `clips_from_cache`; each computed clip logs this worker's throughput and an ETA.
    """

    def __init__(self, index: SourceIndex, config: JobConfig, num_clips: int):
        self._index = index
        self._source = config.source
        self._flow_algorithm = config.flow_algorithm
        self._verify_jpeg_decode = config.verify_jpeg_decode
        self._cache = config.flow_cache
        self._output_dir = config.output_dir
        self._rgb_chunks = {subset: config.rgb_chunks_for(subset) for subset in config.subsets}
        self._num_clips = num_clips
        self._done = 0
        self._computed = 0
        self._pairs = 0
        self._compute_s = 0.0

    def _read(self, clip: Clip) -> Video:
        """The clip's Video: from the flow cache if it has it, else read (and cached)."""
        if self._cache is not None:
            try:
                video = self._cache.read(clip, self._verify_jpeg_decode)
            except ClipError as e:  # a damaged entry is recomputed and replaced
                logging.warning("%s: recomputing a damaged flow cache entry: %s", clip.video_id, e)
                _count("cache_entries_damaged")
                video = None
            if video is not None:
                _count("clips_from_cache")
                return video
        start = time.monotonic()
        video = read_clip(
            clip, self._index, self._source, self._flow_algorithm, self._verify_jpeg_decode
        )
        if self._source == "videos":
            self._log_flow(clip, len(video.flow_x), time.monotonic() - start)
        if self._cache is not None:
            self._cache.write(video)
        return video

    def _log_flow(self, clip: Clip, pairs: int, seconds: float) -> None:
        _count("clips_computed")
        _count("flow_pairs_computed", pairs)
        _count("flow_compute_ms", round(seconds * 1000))
        self._computed += 1
        self._pairs += pairs
        self._compute_s += seconds
        # Cached clips cost ~nothing, so the rest is priced at this worker's computed clips.
        left = self._num_clips - self._done - 1
        eta_s = left * self._compute_s / self._computed
        logging.info(
            "%s: %d flow pairs in %.1f s; this worker: %d of %d clips, %.1f pairs/s, "
            "ETA %.0f s for the job alone (divide by the workers running)",
            clip.video_id,
            pairs,
            seconds,
            self._done + 1,
            self._num_clips,
            self._pairs / max(self._compute_s, 1e-9),
            eta_s,
        )

    def process(self, clip: Clip):
        _count("clips_read")
        try:
            video = self._read(clip)
            records = encode_records(video, self._rgb_chunks[clip.subset])
        except ClipError as e:
            stage, error = e.stage, str(e)
        except Exception as e:  # reported per clip: one odd clip must not end a long job
            logging.exception("%s: unexpected error", clip.video_id)
            stage, error = STAGE_INTERNAL, f"{type(e).__name__}: {e}"
        else:
            # Every file is written before any is emitted: a clip gets all its records or
            # none (a write error fails the bundle, and its files are never sharded).
            frame_hw = {m: tuple(int(n) for n in video.frame_hw(m)) for m in MODALITIES}
            staged = [
                self._stage(clip, modality, chunk, record, frame_hw[modality])
                for modality in MODALITIES
                for chunk, record in enumerate(records[modality])
            ]
            _count("clips_written")
            _count("rgb_frames", len(video.rgb))
            _count("flow_frames", len(video.flow_x))
            self._done += 1
            if self._done % _LOG_EVERY == 0:
                logging.info("staged %d clips in this worker (last: %s)", self._done, clip.video_id)
            yield from staged
            return
        _count("clips_failed")
        logging.warning("%s (%s) failed at stage %s: %s", clip.video_id, clip.subset, stage, error)
        yield beam.pvalue.TaggedOutput(_FAILURES, Failure(clip.subset, clip.video_id, stage, error))

    def _stage(
        self, clip: Clip, modality: str, chunk: int, record: bytes, hw: tuple[int, int]
    ) -> _Staged:
        path = outputs.staged_record_path(
            self._output_dir, clip.subset, modality, clip.video_id, chunk
        )
        with tf.io.TFRecordWriter(path) as writer:
            writer.write(record)
        num_bytes = len(record) + sharding.TFRECORD_FRAMING_BYTES
        return _Staged(
            clip.subset, modality, clip.video_id, chunk, clip.class_name, path, num_bytes, hw
        )


class _WriteShard(beam.DoFn):
    """((subset, modality, index, num_shards), staged records) -> one temp shard file."""

    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element: tuple[tuple[str, str, int, int], list[_Staged]]):
        (subset, modality, index, num_shards), staged = element
        records = sorted(staged, key=lambda s: sharding.record_order(s.key))
        name = shard_name(subset, modality, index, num_shards)
        path = outputs.temp_shard_path(self._output_dir, name)
        num_bytes = 0
        with tf.io.gfile.GFile(path, "wb") as out:
            for record in records:
                with tf.io.gfile.GFile(record.path, "rb") as f:
                    data = f.read()
                out.write(data)
                num_bytes += len(data)
        _count(f"{modality}_records", len(records))
        _count("shard_bytes", num_bytes)
        per_class = collections.Counter(r.class_name for r in records)
        max_hw = (max(r.frame_hw[0] for r in records), max(r.frame_hw[1] for r in records))
        logging.info("wrote %s: %d records, %d bytes", path, len(records), num_bytes)
        yield TempShard(
            subset,
            modality,
            index,
            num_shards,
            path,
            len(records),
            num_bytes,
            tuple(sorted(per_class.items())),
            max_hw,
        )


def _videos_per_class(
    subset: str, temp_shards: list[TempShard], class_names: list[str], rgb_chunks: int
) -> dict[str, int]:
    """Class name -> videos of `subset` in the shards, the same in every modality.

    Raises:
      RuntimeError: a modality's records are not `records_per_video` per video (an internal
        error: a clip must have all its records or none).
    """
    records = {modality: collections.Counter() for modality in MODALITIES}
    for temp in temp_shards:
        if temp.subset == subset:
            records[temp.modality].update(dict(temp.per_class))
    videos = {name: records[FLOW_MODALITY][name] for name in class_names}
    for modality, per_video in ((RGB_MODALITY, rgb_chunks), (FLOW_MODALITY, 1)):
        expected = {name: count * per_video for name, count in videos.items() if count}
        if dict(+records[modality]) != expected:
            raise RuntimeError(
                f"internal error: {subset}: {modality} shards hold {dict(+records[modality])} "
                f"records per class, expected {per_video} per video {videos}; no manifest "
                "written"
            )
    return videos


class _Finalize(beam.DoFn):
    """Checks the accounting, moves shards into place, writes failures.jsonl, manifest.json."""

    def __init__(self, config: JobConfig, class_names: list[str], listed: dict[str, int]):
        self._config = config
        self._class_names = class_names
        self._listed = listed

    def process(self, unused_element: None, temp_shards: list[TempShard], failures: list[Failure]):
        out = self._config.output_dir
        rgb_chunks = {subset: self._config.rgb_chunks_for(subset) for subset in self._listed}
        per_class = {
            subset: _videos_per_class(subset, temp_shards, self._class_names, rgb_chunks[subset])
            for subset in self._listed
        }
        written = {subset: sum(counts.values()) for subset, counts in per_class.items()}
        failed = {subset: 0 for subset in self._listed}
        for failure in failures:
            failed[failure.subset] += 1
        for subset, listed in self._listed.items():
            if written[subset] + failed[subset] != listed:
                raise RuntimeError(
                    f"internal error: {subset}: {listed} clips listed but {written[subset]} "
                    f"written and {failed[subset]} failed; no manifest written"
                )
        max_frame_hw = {modality: [0, 0] for modality in MODALITIES}
        for temp in temp_shards:
            hw = max_frame_hw[temp.modality]
            hw[:] = [max(hw[0], temp.max_frame_hw[0]), max(hw[1], temp.max_frame_hw[1])]
        shards = outputs.publish_shards(out, temp_shards)
        outputs.delete_stale_shards(out, {shard.path for shard in shards})
        outputs.write_failures(out, failures)
        write_class_index(out, self._class_names)
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
            rgb_chunks=rgb_chunks,
            max_frame_hw=max_frame_hw,
            command_line=self._config.command_line,
            dataset=self._config.dataset,
            split_rule=self._config.split_rule,
        )
        write_manifest(out, manifest)
        outputs.remove_staging(out)
        logging.info("wrote %s: %s written, %s failed", out, written, failed)


def _shards_per_set(
    set_bytes: tuple[tuple[str, str], int], fixed: int | None, shard_bytes: int
) -> tuple[tuple[str, str], int]:
    """((subset, modality), bytes) -> ((subset, modality), shard count)."""
    key, total_bytes = set_bytes
    if fixed is not None:
        return key, fixed
    return key, sharding.num_shards_for(total_bytes, shard_bytes)


def _key_by_shard(
    staged: _Staged, num_shards: dict[tuple[str, str], int]
) -> tuple[tuple[str, str, int, int], _Staged]:
    count = num_shards[staged.subset, staged.modality]
    index = sharding.shard_index(staged.key, count)
    return (staged.subset, staged.modality, index, count), staged


def build_pipeline(
    pipeline: beam.Pipeline,
    config: JobConfig,
    clips: list[Clip],
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
        >> beam.ParDo(_StageClip(index, config, len(clips))).with_outputs(_FAILURES, main="staged")
    )
    staged = results["staged"]
    shard_bytes = round(config.shard_size_mb * 1e6)
    num_shards = (
        staged
        | "RecordBytes" >> beam.Map(lambda s: ((s.subset, s.modality), s.num_bytes))
        | "BytesPerSet" >> beam.CombinePerKey(sum)
        | "ShardsPerSet" >> beam.Map(_shards_per_set, config.num_shards, shard_bytes)
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
    other = " or use --source=videos for raw videos" if config.source == "frames" else ""
    for present, where in needed:
        if not present:
            raise DatasetError(
                f"{where}: folder not found, and --source={config.source} needs it; pass "
                f"--root (or the folder flag) pointing at your {config.dataset} copy{other} "
                "(see WORKSPACE.md)"
            )


def run(config: JobConfig, options: PipelineOptions) -> JobResult:
    """Lists the clips, runs the job to completion and returns its manifest and counters.

    Raises:
      ValueError: a bad config value (names the flag).
      DatasetError: unreadable split files or a missing source folder.
      RuntimeError: the pipeline did not finish.
    """
    config.check()
    dataset = config.open_dataset()
    dataset.check_split(config.split)
    class_names = dataset.class_names()
    subsets = validation.hold_out(
        dataset.read_splits(config.split), config.val_groups, config.val_fraction, dataset.name
    )
    clips = sorted((c for s in config.subsets for c in subsets[s]), key=lambda c: c.video_id)
    listed = {s: len(subsets[s]) for s in config.subsets}
    index = SourceIndex(config.layout)
    _check_layout(index, config)
    outputs.prepare(config.output_dir, config.subsets)
    cache = config.flow_cache
    if cache is not None:
        cached = len(cache.complete_ids() & {clip.video_id for clip in clips})
        logging.info("flow cache %s: %d of %d clips complete", cache.root, cached, len(clips))
    logging.info(
        "%d clips listed (%s), source %s, RGB chunks %s",
        len(clips),
        listed,
        config.source_name,
        {subset: config.rgb_chunks_for(subset) for subset in config.subsets},
    )
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
