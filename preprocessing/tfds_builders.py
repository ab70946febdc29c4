"""TensorFlow Datasets builders of both streams: `two_stream_ucf101`, `two_stream_hmdb51`.

Built with TFDS's own command (registered by importing this module)::

    tfds build two_stream_ucf101 --imports=preprocessing.tfds_builders --manual_dir=ROOT \
        --data_dir=DATA_DIR --beam_pipeline_options=runner=DirectRunner [--config=split1_rgb]

or with the project's (`python -m preprocessing --format=tfds`, every job flag, both
modality configs of `--split`); both run `build_examples`, the Beam job's own listing
(`pipeline.plan`) and reading (`pipeline.ClipReader`: the frames or videos source, the flow
cache), so there is one implementation of reading a dataset. `tfds build` reads ROOT with
the job's defaults: the frame archives when ROOT has them, else the videos with TV-L1 flow
(a flow cache folder, `<cache>/<algorithm>`, is a frames root).

Configs: one per split and modality (`split1_rgb`, `split1_flow`, ..., `split3_flow`); an RGB
config reads and writes RGB only, a flow config flow only (each still reads the other's file
list: a clip is checked by the N / N-1 rule before it is written). From raw videos each
config computes the flow again, unless `--flow_cache_dir` keeps it for the second (the
project's command; `tfds build` reads a cache folder as a frames root, with the split files
copied into it). Features and metadata:
`tfrecords.tfds_schema`. Examples are keyed by a stable hash of (video, chunk) with TFDS's
shuffling off, so they are written in the order of the SequenceExample shards
(`preprocessing.sharding.record_order`), which mixes classes.

Strided RGB chunks are kept (train: `rgb_chunks` = 8 examples per video, chunk j holding
frames j, j+8, ...; test and val: whole videos). TFDS does not change what a sample costs:
`SkipDecoding` still reads and parses the whole example, so a spatial sample drawn from a
whole video pays for every frame, and chunks cut that to 1/K for any tf.data reader, not only
ours, while keeping video-uniform sampling (every video has K examples). They also keep the
two formats record for record the same, so the same seed gives the same training windows.
The price: a `tfds.load` user sees a train example as 1/K of a video; the test split holds
whole videos.

Memory: TFDS's Beam writer groups the serialized examples by shard (a GroupByKey of the
records themselves, which the SequenceExample job avoids by staging files), so a
DirectRunner build holds the config's whole output in memory: ~9 GB for UCF-101's RGB.
Build full-size datasets on Dataflow (`--beam_pipeline_options=runner=DataflowRunner,...`),
or locally as SequenceExample shards.

Failures: a clip that cannot be read is not an example; it goes to the config folder's
`failures.jsonl` (as in a SequenceExample directory), and metadata.json records listed /
written / failed per split, checked to reconcile with TFDS's own split sizes.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import posixpath

import apache_beam as beam
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from apache_beam.options.pipeline_options import PipelineOptions

from optical_flow import DEFAULT_FLOW_ALGORITHM
from preprocessing import (
    DATASET_FOLDERS,
    DEFAULT_SHARD_SIZE_MB,
    DEFAULT_SUBSETS,
    FLOW_DIR,
    FRAMES_DIR,
    datasets,
    hmdb51,
    outputs,
    pipeline,
    sharding,
    ucf101,
)
from preprocessing.dataset import Clip
from preprocessing.job_config import JobConfig
from preprocessing.layout import SourceIndex
from preprocessing.outputs import Failure
from preprocessing.progress import count
from tfrecords import tfds_schema
from tfrecords.errors import UserError
from tfrecords.manifest import FAILURES_FILE, TFDS_FORMAT, Manifest
from tfrecords.schema import CHUNK, LABEL, MODALITIES, RGB_MODALITY, SCHEMA_VERSION

VERSION = "1.0.0"
_FAILURES = "failures"
_WRITTEN = "written"
# Per split, while the Beam job runs: its failures and written clips, read back and removed
# by `_TwoStreamBuilder._download_and_prepare`.
_ACCOUNTING_FILE = ".accounting-{split}.json"


class _ClipExamples(beam.DoFn):
    """Clip -> its (key, example) pairs of one modality, or a Failure (tagged)."""

    def __init__(self, reader: pipeline.ClipReader, modality: str, num_chunks: int):
        self._reader = reader
        self._modality = modality
        self._num_chunks = num_chunks

    def process(self, clip: Clip):
        count("clips_read")
        try:
            video = self._reader.read(clip)
            examples = tfds_schema.encode_examples(video, self._modality, self._num_chunks)
        except Exception as e:  # reported per clip (`pipeline.clip_failure`)
            yield beam.pvalue.TaggedOutput(_FAILURES, pipeline.clip_failure(clip, e))
            return
        pipeline.count_written(video)
        self._reader.progress.clip_staged(clip.video_id)
        hw = [int(n) for n in video.frame_hw(self._modality)]
        yield beam.pvalue.TaggedOutput(_WRITTEN, (clip.class_name, hw))
        for example in examples:
            key = sharding.record_key(clip.video_id, example[CHUNK])
            yield sharding.stable_hash(key), example


def _write_accounting(
    unused: None, path: str, failures: list[Failure], written: list[tuple[str, list[int]]]
) -> None:
    """Writes one split's failures and written clips (class, frame size) to `path`."""
    record = {"failures": [dataclasses.asdict(f) for f in failures], "written": written}
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(record))


def build_examples(
    clips: list[Clip], reader: pipeline.ClipReader, modality: str, num_chunks: int, path: str
) -> beam.PTransform:
    """The Beam generation of one split: its examples, and its accounting written to `path`."""

    @beam.ptransform_fn
    def generate(root):
        results = (
            root
            | "ListClips" >> beam.Create(clips)
            | "Spread" >> beam.Reshuffle()
            | "ReadClips"
            >> beam.ParDo(_ClipExamples(reader, modality, num_chunks)).with_outputs(
                _FAILURES, _WRITTEN, main="examples"
            )
        )
        _ = (
            root
            | "Once" >> beam.Create([None])
            | "Accounting"
            >> beam.Map(
                _write_accounting,
                path=path,
                failures=beam.pvalue.AsList(results[_FAILURES]),
                written=beam.pvalue.AsList(results[_WRITTEN]),
            )
        )
        return results["examples"]

    return generate()


@dataclasses.dataclass
class TwoStreamConfig(tfds.core.BuilderConfig):
    """One split and one modality (`tfds_schema.builder_config_name`)."""

    split: int = 1
    modality: str = RGB_MODALITY


def _configs(splits: tuple[int, ...]) -> list[TwoStreamConfig]:
    """Every (split, modality) config of a dataset with `splits`."""
    return [
        TwoStreamConfig(
            name=tfds_schema.builder_config_name(split, modality),
            description=f"split {split}, {modality} only",
            split=split,
            modality=modality,
        )
        for split in splits
        for modality in MODALITIES
    ]


class _TwoStreamBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A dataset of `preprocessing.datasets` as TFDS examples (see the module docstring).

    `job_config` (the project's command) says how to read the dataset; without it (`tfds
    build`) the job's defaults read `--manual_dir`.
    """

    DATASET = ""  # a `preprocessing.datasets` name
    VERSION = tfds.core.Version(VERSION)

    def __init__(self, *, job_config: JobConfig | None = None, **kwargs):
        self._job_config = job_config
        # Set by `_split_generators`, read back by `_account` once the Beam job has run.
        self._job_used: JobConfig | None = None
        self._plan: pipeline.JobPlan | None = None
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_schema.features(self.builder_config.modality),
            supervised_keys=None,
            disable_shuffling=True,  # keys are stable hashes already (module docstring)
            metadata=tfds.core.MetadataDict(),
        )

    def _job(self, dl_manager: tfds.download.DownloadManager) -> JobConfig:
        """What to read: the given job config, or the job's defaults under manual_dir."""
        split = self.builder_config.split
        if self._job_config is not None:
            return dataclasses.replace(self._job_config, split=split)
        root = str(dl_manager.manual_dir)
        layout = datasets.default_layout(self.DATASET, root)
        index = SourceIndex(layout)
        source = "frames" if index.has_frames and index.has_flow else "videos"
        return JobConfig(
            splits_dir=datasets.default_splits_dir(self.DATASET, root),
            layout=layout,
            split=split,
            subsets=DEFAULT_SUBSETS,
            source=source,
            flow_algorithm=DEFAULT_FLOW_ALGORITHM,
            output_dir=self.data_dir,
            num_shards=None,
            shard_size_mb=DEFAULT_SHARD_SIZE_MB,
            command_line=f"tfds build {self.name} --config={self.builder_config.name}",
            dataset=self.DATASET,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        job = self._job(dl_manager)
        plan = pipeline.plan(job)
        self.info.features[LABEL].names = plan.class_names
        self._plan = plan
        self._job_used = job
        reader = pipeline.ClipReader(plan.index, job, len(plan.clips))
        logging.info("%s: %s clips listed, source %s", self.name, plan.listed, job.source_name)
        return {
            subset: self._generate_examples(clips, reader, job, subset)
            for subset, clips in plan.subsets.items()
        }

    def _generate_examples(
        self, clips: list[Clip], reader: pipeline.ClipReader, job: JobConfig, subset: str
    ) -> beam.PTransform:
        """`subset`'s examples of this config's modality: `build_examples`' PTransform."""
        modality = self.builder_config.modality
        return build_examples(
            clips,
            reader,
            modality,
            job.rgb_chunks_for(subset) if modality == RGB_MODALITY else 1,
            self._accounting_path(subset),
        )

    def _accounting_path(self, subset: str) -> str:
        return posixpath.join(self.data_dir, _ACCOUNTING_FILE.format(split=subset))

    def _download_and_prepare(self, dl_manager, download_config) -> None:
        super()._download_and_prepare(dl_manager, download_config)
        self.info.metadata.update(self._account())

    def _account(self) -> dict:
        """Writes failures.jsonl, checks the counts, returns the metadata (tfds_schema)."""
        job, plan, modality = self._job_used, self._plan, self.builder_config.modality
        failures, per_class, max_hw = [], {}, [0, 0]
        for subset in plan.subsets:
            path = self._accounting_path(subset)
            with tf.io.gfile.GFile(path) as f:
                record = json.load(f)
            tf.io.gfile.remove(path)
            failures += [Failure(**fields) for fields in record["failures"]]
            per_class[subset] = dict(collections.Counter(name for name, _ in record["written"]))
            for _, hw in record["written"]:
                max_hw = [max(max_hw[0], hw[0]), max(max_hw[1], hw[1])]
        outputs.write_failures(self.data_dir, failures)
        written = {subset: sum(counts.values()) for subset, counts in per_class.items()}
        failed = collections.Counter(f.subset for f in failures)
        rgb_chunks = {subset: job.rgb_chunks_for(subset) for subset in plan.subsets}
        for subset, listed in plan.listed.items():
            per_video = rgb_chunks[subset] if modality == RGB_MODALITY else 1
            examples = self.info.splits[subset].num_examples
            accounted = written[subset] + failed[subset] == listed
            if not accounted or examples != written[subset] * per_video:
                raise RuntimeError(
                    f"internal error: {subset}: {listed} clips listed, {written[subset]} written, "
                    f"{failed[subset]} failed, {examples} examples ({per_video} per video)"
                )
        if failures:
            logging.warning(
                "%s: %d clips failed, see %s",
                self.data_dir,
                len(failures),
                posixpath.join(self.data_dir, FAILURES_FILE),
            )
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            split=job.split,
            source=job.source_name,
            class_names=plan.class_names,
            listed=plan.listed,
            written=written,
            failed={subset: failed[subset] for subset in plan.subsets},
            per_class=per_class,
            shards=[],
            rgb_chunks=rgb_chunks,
            max_frame_hw={m: max_hw for m in MODALITIES},
            command_line=job.command_line,
            dataset=job.dataset,
            split_rule=job.split_rule,
            frame_resize=job.frame_resize,
            record_format=TFDS_FORMAT,
        )
        return tfds_schema.manifest_metadata(manifest, modality)


def _manual_download_instructions(dataset: str) -> str:
    """What `--manual_dir` must hold for `dataset` (its folders in `DATASET_FOLDERS`)."""
    splits_dir, videos_dir = DATASET_FOLDERS[dataset]
    return (
        f"ROOT holds {splits_dir}/ and either the frame archives ({FRAMES_DIR}/, "
        f"{FLOW_DIR}/u|v/) or the videos ({videos_dir}/); see WORKSPACE.md."
    )


class TwoStreamUcf101(_TwoStreamBuilder):
    """UCF-101 (101 classes, 3 official splits): RGB frames and TV-L1 flow, both streams."""

    DATASET = "ucf101"
    BUILDER_CONFIGS = _configs(ucf101.SPLITS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_download_instructions("ucf101")


class TwoStreamHmdb51(_TwoStreamBuilder):
    """HMDB-51 (51 classes, 3 splits): RGB frames and TV-L1 flow, both streams."""

    DATASET = "hmdb51"
    BUILDER_CONFIGS = _configs(hmdb51.SPLITS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_download_instructions("hmdb51")


# `python -m preprocessing --dataset` names -> their builders.
BUILDERS = {"ucf101": TwoStreamUcf101, "hmdb51": TwoStreamHmdb51}


def build(job_config: JobConfig, beam_args: list[str]) -> dict[str, str]:
    """Builds both modality configs of the job's split under `job_config.output_dir`.

    Each config is regenerated (TFDS's REUSE_CACHE_IF_EXISTS), as the SequenceExample job
    rewrites its shards; `num_shards` and `shard_size_mb` size TFDS's shards per split.

    Returns:
      Modality -> the built config's folder (a `--data_dir` of train.py / eval.py).

    Raises:
      UserError: a dataset without a builder (folder), or a bad job config value.
    """
    builder_class = BUILDERS.get(job_config.dataset)
    if builder_class is None:
        raise UserError(
            f"dataset {job_config.dataset!r}: TFDS builders exist for {tuple(BUILDERS)}; "
            "write it as SequenceExample shards (--format=sequence_example)"
        )
    max_shard_size = round(job_config.shard_size_mb * 1e6)
    download_config = tfds.download.DownloadConfig(
        beam_options=PipelineOptions(beam_args),
        download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS,
        num_shards=job_config.num_shards,
        max_shard_size=max_shard_size,
        min_shard_size=min(tfds.download.DownloadConfig.min_shard_size, max_shard_size),
    )
    folders = {}
    for modality in MODALITIES:
        builder = builder_class(
            config=tfds_schema.builder_config_name(job_config.split, modality),
            data_dir=job_config.output_dir,
            job_config=job_config,
        )
        builder.download_and_prepare(download_config=download_config)
        folders[modality] = str(builder.data_dir)
    return folders
