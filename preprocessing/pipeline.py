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
    Create([None]) -> ParDo(Finalize) with shards and failures as side inputs <--------+
        checks the accounting, renames shards into OUT, deletes stale (and schema-v1)
        shards, writes failures.jsonl, then manifest.json (last, atomic), then removes
        OUT/.staging (`preprocessing.finalize`).

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
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import outputs, sharding, validation
from preprocessing.clip_sources import ClipError, read_clip
from preprocessing.dataset import Clip
from preprocessing.errors import DatasetError
from preprocessing.finalize import Finalize
from preprocessing.job_config import JobConfig
from preprocessing.layout import FLOW_X_DIR, FLOW_Y_DIR, SourceIndex
from preprocessing.outputs import Failure, TempShard
from preprocessing.progress import WorkerProgress, count, read_counters
from tfrecords.manifest import Manifest, read_manifest, shard_name
from tfrecords.schema import MODALITIES, Video, encode_records

STAGE_INTERNAL = "internal"  # an unexpected error (a bug or an I/O fault), with its type
_FAILURES = "failures"


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


class ClipReader:
    """Reads a listed clip's Video from the job's source, through the flow cache if any.

    The one reading step of both outputs: this job's staged records and the TFDS builders'
    examples (`preprocessing.tfds_builders`). Picklable; used inside Beam DoFns. The videos
    source counts `clips_computed`, `flow_pairs_computed` and `flow_compute_ms` (wall time
    in this worker's thread: pairs/s per core when each worker has one core and OpenCV no
    threads of its own; TV-L1 uses some), and with a flow cache `clips_from_cache`; each
    computed clip logs this worker's throughput and an ETA.
    """

    def __init__(self, index: SourceIndex, config: JobConfig, num_clips: int):
        self._index = index
        self._source = config.source
        self._flow_algorithm = config.flow_algorithm
        self._verify_jpeg_decode = config.verify_jpeg_decode
        self._cache = config.flow_cache
        self.progress = WorkerProgress(num_clips)

    def read(self, clip: Clip) -> Video:
        """The clip's Video: from the flow cache if it has it, else read (and cached).

        Raises:
          ClipError: see `preprocessing.clip_sources.read_clip`.
        """
        if self._cache is not None:
            try:
                video = self._cache.read(clip, self._verify_jpeg_decode)
            except ClipError as e:  # a damaged entry is recomputed and replaced
                logging.warning(
                    "%s: recomputing a damaged or outdated flow cache entry: %s", clip.video_id, e
                )
                count("cache_entries_damaged")
                video = None
            if video is not None:
                count("clips_from_cache")
                return video
        start = time.monotonic()
        video = read_clip(
            clip, self._index, self._source, self._flow_algorithm, self._verify_jpeg_decode
        )
        if self._source == "videos":
            self.progress.flow_computed(clip.video_id, len(video.flow_x), time.monotonic() - start)
        if self._cache is not None:
            self._cache.write(video)
        return video


def clip_failure(clip: Clip, error: Exception) -> Failure:
    """The failures.jsonl line of a clip whose reading or encoding raised `error`.

    A ClipError keeps its stage; any other exception is a bug or an I/O fault, logged with
    its traceback and reported at STAGE_INTERNAL (one odd clip must not end a long job).
    Counts `clips_failed`.
    """
    if isinstance(error, ClipError):
        stage, message = error.stage, str(error)
    else:
        logging.error("%s: unexpected error", clip.video_id, exc_info=error)
        stage, message = STAGE_INTERNAL, f"{type(error).__name__}: {error}"
    count("clips_failed")
    logging.warning("%s (%s) failed at stage %s: %s", clip.video_id, clip.subset, stage, message)
    return Failure(clip.subset, clip.video_id, stage, message)


def count_written(video: Video) -> None:
    """Counts a clip whose records were all written: `clips_written` and its frames."""
    count("clips_written")
    count("rgb_frames", len(video.rgb))
    count("flow_frames", len(video.flow_x))


class _StageClip(beam.DoFn):
    """Clip -> all its staged records (main output, K RGB + 1 flow) or a Failure (tagged)."""

    def __init__(self, index: SourceIndex, config: JobConfig, num_clips: int):
        self._reader = ClipReader(index, config, num_clips)
        self._output_dir = config.output_dir
        self._rgb_chunks = {subset: config.rgb_chunks_for(subset) for subset in config.subsets}

    def process(self, clip: Clip):
        count("clips_read")
        try:
            video = self._reader.read(clip)
            records = encode_records(video, self._rgb_chunks[clip.subset])
        except Exception as e:  # reported per clip (`clip_failure`)
            yield beam.pvalue.TaggedOutput(_FAILURES, clip_failure(clip, e))
            return
        # Every file is written before any is emitted: a clip gets all its records or none
        # (a write error fails the bundle, and its files are never sharded).
        frame_hw = {m: tuple(int(n) for n in video.frame_hw(m)) for m in MODALITIES}
        staged = [
            self._stage(clip, modality, chunk, record, frame_hw[modality])
            for modality in MODALITIES
            for chunk, record in enumerate(records[modality])
        ]
        count_written(video)
        self._reader.progress.clip_staged(clip.video_id)
        yield from staged

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
        count(f"{modality}_records", len(records))
        count("shard_bytes", num_bytes)
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
            Finalize(config, class_names, listed),
            temp_shards=beam.pvalue.AsList(temp_shards),
            failures=beam.pvalue.AsList(results[_FAILURES]),
        )
    )


def _check_layout(index: SourceIndex, config: JobConfig) -> None:
    layout = config.layout
    flow_folders = f"{FLOW_X_DIR}/ and {FLOW_Y_DIR}/"
    needed = {
        "frames": [
            (index.has_frames, "frames_dir", layout.frames_dir, "a folder of RGB frames per clip"),
            (index.has_flow, "flow_dir", layout.flow_dir, f"{flow_folders} of flow frames"),
        ],
        "videos": [
            (index.has_videos, "videos_dir", layout.videos_dir, "a folder of videos per class")
        ],
    }[config.source]
    other = " or use source='videos' for raw videos" if config.source == "frames" else ""
    for present, field, folder, what in needed:
        if not present:
            raise DatasetError(
                f"{field}={folder}: folder not found; source='{config.source}' needs it to hold "
                f"{what}: point root (or {field}) at your {config.dataset} copy{other} "
                "(see WORKSPACE.md)"
            )


@dataclasses.dataclass(frozen=True)
class JobPlan:
    """What a job reads, known before it starts (`plan`).

    Attributes:
      class_names: class names in label order.
      subsets: subset -> its listed clips, sorted by id.
      index: where each clip's sources are.
    """

    class_names: list[str]
    subsets: dict[str, list[Clip]]
    index: SourceIndex

    @property
    def listed(self) -> dict[str, int]:
        """Subset -> clips listed."""
        return {subset: len(clips) for subset, clips in self.subsets.items()}

    @property
    def clips(self) -> list[Clip]:
        """Every listed clip of every subset, sorted by id."""
        every = (clip for clips in self.subsets.values() for clip in clips)
        return sorted(every, key=lambda clip: clip.video_id)


def plan(config: JobConfig) -> JobPlan:
    """Checks `config`, reads the class list and the split, and checks the source folders.

    The one listing of a dataset's clips, for this job and the TFDS builders alike.

    Raises:
      UserError: a bad config value (names the field and value).
      DatasetError: unreadable split files or a missing source folder.
    """
    config.check()
    dataset = config.open_dataset()
    dataset.check_split(config.split)
    class_names = dataset.class_names()
    split = validation.hold_out(
        dataset.read_splits(config.split), config.val_groups, config.val_fraction, dataset.name
    )
    subsets = {s: sorted(split[s], key=lambda c: c.video_id) for s in config.subsets}
    index = SourceIndex(config.layout)
    _check_layout(index, config)
    return JobPlan(class_names, subsets, index)


def run(config: JobConfig, options: PipelineOptions) -> JobResult:
    """Lists the clips, runs the job to completion and returns its manifest and counters.

    Raises:
      ValueError: a bad config value (names the field and value).
      DatasetError: unreadable split files or a missing source folder.
      RuntimeError: the pipeline did not finish.
    """
    job = plan(config)
    clips, listed = job.clips, job.listed
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
    build_pipeline(pipeline, config, clips, job.index, job.class_names, listed)
    result = pipeline.run()
    state = result.wait_until_finish()
    if state != beam.runners.runner.PipelineState.DONE:
        raise RuntimeError(f"the Beam job ended in state {state}; see its logs")
    return JobResult(read_manifest(config.output_dir), read_counters(result))
