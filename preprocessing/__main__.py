r"""`python -m preprocessing`: a dataset (frames + flow, or raw videos) -> sharded TFRecords.

Datasets (`--dataset`, see preprocessing/datasets.py): ucf101 (default), hmdb51 (split files
in ROOT/testTrainMulti_7030_splits, videos in ROOT/hmdb51), folder (your own videos,
ROOT/<class>/<file>, split by --split_csv or by a hash with --test_fraction)::

    .venv/bin/python -m preprocessing --dataset=hmdb51 --root=ROOT --split=1 --output_dir=OUT
    .venv/bin/python -m preprocessing --dataset=folder --root=ROOT --source=videos \
        --flow_algorithm=farneback --output_dir=OUT [--split_csv=split.csv]

Local run on the public archives (jpegs_256/, tvl1_flow/ under ROOT)::

    .venv/bin/python -m preprocessing --root=ROOT --split=1 --output_dir=workspace/records

With `--val_groups=3` (or `--val_fraction=F`) the job also writes a `val` subset: training
groups held out of train, for choosing checkpoints without the test list (`eval.py --watch`,
preprocessing/validation.py).

Raw videos with flow computed on the fly (`--flow_algorithm=tvl1|dis|farneback`); with
`--flow_cache_dir=DIR` each clip's frames and flow are kept as soon as it is done, and a re-run
after a crash computes only the rest (preprocessing/flow_cache.py)::

    .venv/bin/python -m preprocessing --root=ROOT --source=videos --output_dir=OUT \
        [--flow_cache_dir=DIR]

On Dataflow (every path may be `gs://`)::

    python -m preprocessing --root=gs://BUCKET/ucf101 --output_dir=gs://BUCKET/records \
        --runner=DataflowRunner --project=PROJECT --region=REGION \
        --temp_location=gs://BUCKET/tmp --setup_file=./setup.py

Flags this binary does not define are passed to Beam's PipelineOptions (`--runner`,
`--project`, ...); one neither defines stops the job with status 2. `--runner` defaults to
DirectRunner. Writes schema version 2 (tfrecords/schema.py): RGB and flow in separate shards,
OUT/<subset>-<modality>-SSSSS-of-NNNNN.tfrecord (e.g. train-rgb-00003-of-00012.tfrecord),
then OUT/failures.jsonl and, last, OUT/manifest.json (see preprocessing/pipeline.py). A train
video is `--rgb_chunks` RGB records (strided chunks: chunk j holds frames j, j+K, ...); a
test video is one whole-video RGB record; every video is one flow record. Re-running over a
directory of schema version 1 replaces its shards.

`--format=tfds` writes the same clips as TensorFlow Datasets instead (ucf101, hmdb51; see
preprocessing/tfds_builders.py): both modality configs of `--split`, read by the same code,
under OUT/two_stream_<dataset>/split<k>_<modality>/<version>/, each a `--data_dir` of
train.py / eval.py and a `tfds.builder_from_directory` folder::

    .venv/bin/python -m preprocessing --format=tfds --root=ROOT --output_dir=OUT

Exit status: 0 on success; 1 when more clips failed than --max_failures allows (the good
clips, failures.jsonl and the manifest are still written); 2 on bad input (a message, no
traceback), an --output_dir or --flow_cache_dir that cannot be written included. The flags
are parsed and the local paths checked before TensorFlow and Beam load (~0.1 s); a flag
neither this binary nor Beam defines is refused once Beam's options are loaded (~1 s),
before TensorFlow.
"""

from __future__ import annotations

import collections
import difflib
import logging as python_logging
import posixpath
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# Nothing imported here loads TensorFlow or Beam: the flags are parsed (a typo reported) and
# the paths checked before they load, in `main` (tfrecords/startup.py).
from absl import flags, logging

from optical_flow import DEFAULT_FLOW_ALGORITHM, FLOW_ALGORITHMS
from preprocessing import (
    DATASET_FOLDERS,
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_RGB_CHUNKS,
    DEFAULT_SHARD_SIZE_MB,
    DEFAULT_SUBSETS,
    DEFAULT_TEST_FRACTION,
    FLOW_DIR,
    FRAMES_DIR,
    HMDB51_SPLITS_DIR,
    HMDB51_VIDEOS_DIR,
    SOURCES,
    UCF101_SPLITS_DIR,
    UCF101_VIDEOS_DIR,
)
from tfrecords import FORMATS, MANIFEST_FILE, TFDS_FORMAT, startup
from tfrecords.errors import UserError, report, run_binary
from tfrecords.output_checks import check_input_dir, check_input_file, check_output_dir

if TYPE_CHECKING:
    from preprocessing.job_config import JobConfig

_DATASET = flags.DEFINE_enum(
    "dataset",
    DEFAULT_DATASET,
    list(DATASETS),
    "Which dataset's conventions (class list, splits, clip ids, folders) to use.",
)
_ROOT = flags.DEFINE_string(
    "root",
    None,
    f"Dataset root: ucf101: {UCF101_SPLITS_DIR}/, {UCF101_VIDEOS_DIR}/; hmdb51: "
    f"{HMDB51_SPLITS_DIR}/, {HMDB51_VIDEOS_DIR}/; folder: one folder of videos per class; all: "
    f"{FRAMES_DIR}/, {FLOW_DIR}/ (see WORKSPACE.md). Each folder can be "
    "overridden below.",
)
_SPLITS_DIR = flags.DEFINE_string(
    "splits_dir",
    None,
    f"Overrides ROOT/{UCF101_SPLITS_DIR} (ucf101) or ROOT/{HMDB51_SPLITS_DIR} (hmdb51).",
)
_FRAMES_DIR = flags.DEFINE_string("frames_dir", None, f"Overrides ROOT/{FRAMES_DIR}.")
_FLOW_DIR = flags.DEFINE_string("flow_dir", None, f"Overrides ROOT/{FLOW_DIR}.")
_VIDEOS_DIR = flags.DEFINE_string(
    "videos_dir",
    None,
    f"Overrides ROOT/{UCF101_VIDEOS_DIR} (ucf101), ROOT/{HMDB51_VIDEOS_DIR} (hmdb51), ROOT "
    "(folder).",
)
_SPLIT_CSV = flags.DEFINE_string(
    "split_csv",
    None,
    "--dataset=folder: CSV of 'path,subset' or 'path,label,subset' rows (path relative to "
    "ROOT); without it the split is a stable hash of the paths (--test_fraction).",
)
_TEST_FRACTION = flags.DEFINE_float(
    "test_fraction",
    DEFAULT_TEST_FRACTION,
    "--dataset=folder without --split_csv: fraction of each class's videos in test.",
)
_SPLIT = flags.DEFINE_enum("split", "1", ["1", "2", "3"], "Split whose lists to write.")
_SUBSETS = flags.DEFINE_list(
    "subsets",
    list(DEFAULT_SUBSETS),
    "Subsets to write: train, test, and val (added by --val_groups / --val_fraction).",
)
_VAL_GROUPS = flags.DEFINE_integer(
    "val_groups",
    None,
    "Hold out the N lowest-numbered training groups of every class as a val subset, "
    "group-disjoint from train and test (datasets with groups: ucf101); train.py never "
    "reads it. See preprocessing/validation.py.",
)
_VAL_FRACTION = flags.DEFINE_float(
    "val_fraction",
    None,
    "Hold out this fraction of every class's training groups (clips, for datasets without "
    "groups) as a val subset, chosen by a stable hash.",
)
_SOURCE = flags.DEFINE_enum(
    "source",
    "frames",
    list(SOURCES),
    "frames: pre-extracted RGB + TV-L1 JPEGs, stored byte for byte; videos: decode the video "
    "files, resize them as the archives did (bicubic, short side 256, aspect ratio kept) and "
    "compute flow.",
)
_FLOW_ALGORITHM = flags.DEFINE_enum(
    "flow_algorithm",
    DEFAULT_FLOW_ALGORITHM,
    list(FLOW_ALGORITHMS),
    "Optical flow for --source=videos: tvl1 (as the public archives; slow, costed in "
    "README.md's Scaling section), dis or farneback (fast).",
)
_VERIFY_JPEG_DECODE = flags.DEFINE_bool(
    "verify_jpeg_decode",
    True,
    "--source=frames: fully decode every RGB and flow JPEG at ingest, so a frame whose scan "
    "data is damaged behind intact markers (libjpeg only warns, and training would see grey "
    "blocks) fails its clip at stage jpeg, naming the file. Costs ~0.32 CPU ms per RGB frame "
    "and ~0.1 per flow frame, ~20 CPU-minutes for UCF-101 (python -m bench.jpeg_check). "
    "--noverify_jpeg_decode checks JPEG markers only.",
)
_FLOW_CACHE_DIR = flags.DEFINE_string(
    "flow_cache_dir",
    None,
    "--source=videos: keep each clip's frames and flow in DIR/<flow algorithm>/ "
    f"({FRAMES_DIR}/, {FLOW_DIR}/u|v/: a --source=frames root), written "
    "per clip as soon as it is done, so a re-run after a crash computes only the clips "
    "without a complete entry.",
)
_XLA_CACHE_DIR = flags.DEFINE_string(
    "xla_cache_dir",
    "",
    "--source=videos --flow_algorithm=tvl1 on this machine (DirectRunner): keep XLA's "
    "compiled TV-L1 programs here, so a re-run skips compiling (optical_flow/"
    "compile_cache.py); '' = off.",
)
_FORMAT = flags.DEFINE_enum(
    "format",
    FORMATS[0],
    list(FORMATS),
    "sequence_example: this project's sharded SequenceExamples and manifest.json; tfds: a "
    "TensorFlow Datasets dataset (one folder per modality, preprocessing/tfds_builders.py).",
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, f"Where shards and {MANIFEST_FILE} go.")
_NUM_SHARDS = flags.DEFINE_integer(
    "num_shards",
    None,
    "Shards per subset and modality; default: from --shard_size_mb.",
    lower_bound=1,
)
_SHARD_SIZE_MB = flags.DEFINE_float(
    "shard_size_mb",
    DEFAULT_SHARD_SIZE_MB,
    "Target shard size in MB (10^6 bytes) without --num_shards.",
)
_RGB_CHUNKS = flags.DEFINE_integer(
    "rgb_chunks",
    DEFAULT_RGB_CHUNKS,
    "K: RGB records per train video, strided chunks (chunk j holds frames j, j+K, ...), so "
    "a read costs 1/K of the video. Test subset records are whole videos (K = 1) whatever "
    "this flag says.",
)
_MAX_FAILURES = flags.DEFINE_integer(
    "max_failures", 0, "Clips allowed to fail before the exit status is 1.", lower_bound=0
)


def _check_beam_args(beam_args: list[str]) -> None:
    """Exits with status 2 naming any argument neither this binary nor Beam defines.

    Beam's option list is Beam's own: this imports Beam's options (~1 s, no TensorFlow).
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers = []  # Beam's own parser of every registered PipelineOptions subclass
    # Beam warns of each argument it cannot parse; this function reports the first itself.
    beam_logger = python_logging.getLogger(PipelineOptions.__module__)
    level = beam_logger.level
    beam_logger.setLevel(python_logging.ERROR)
    try:
        PipelineOptions(beam_args).get_all_options(add_extra_args_fn=parsers.append)
    finally:
        beam_logger.setLevel(level)
    _, unknown = parsers[0].parse_known_args(beam_args)
    if not unknown:
        return
    known = [*(f"--{name}" for name in flags.FLAGS), *parsers[0]._option_string_actions]
    name = unknown[0].split("=", 1)[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    report(
        f"unknown flag {unknown[0]!r} (neither this binary nor Beam defines it){hint} (pass "
        "--help to see the flags)",
        2,
    )


def _check_source_folders() -> None:
    """UserError unless --root, or a flag for every folder the dataset and source read, is given."""
    if _ROOT.value is not None:
        return
    needed = {
        "frames": [("--frames_dir", _FRAMES_DIR.value), ("--flow_dir", _FLOW_DIR.value)],
        "videos": [("--videos_dir", _VIDEOS_DIR.value)],
    }[_SOURCE.value]
    if _DATASET.value == "folder" and _SOURCE.value == "frames":  # class folders = videos folder
        needed = [("--videos_dir", _VIDEOS_DIR.value), *needed]
    if DATASET_FOLDERS[_DATASET.value][0] is not None:  # the dataset reads split files
        needed = [("--splits_dir", _SPLITS_DIR.value), *needed]
    missing = [name for name, value in needed if not value]
    if missing:
        raise UserError(f"give --root, or all of {', '.join(missing)}")


def _check_paths() -> None:
    """Refuses, naming the flag, a missing input and an output folder that cannot be written.

    Through `os` for local paths: before TensorFlow and Beam load, a mistake costs one line.
    """
    for flag, value in (("--root", _ROOT.value), ("--splits_dir", _SPLITS_DIR.value)):
        if value:
            check_input_dir(value, flag)
    if _SPLIT_CSV.value:
        check_input_file(_SPLIT_CSV.value, "--split_csv")
    _check_source_folders()
    outputs = (
        ("--output_dir", _OUTPUT_DIR.value),
        ("--flow_cache_dir", _FLOW_CACHE_DIR.value),
        ("--xla_cache_dir", _XLA_CACHE_DIR.value),
    )
    for flag, value in outputs:
        if value:  # an empty --output_dir is JobConfig's error
            check_output_dir(value, flag)


def _subsets() -> tuple[str, ...]:
    """--subsets, with val added when --val_groups or --val_fraction asks for it."""
    from preprocessing import validation

    subsets = tuple(_SUBSETS.value)
    asked = _VAL_GROUPS.value is not None or _VAL_FRACTION.value is not None
    if asked and validation.VAL_SUBSET not in subsets:
        subsets += (validation.VAL_SUBSET,)
    return subsets


def _config() -> JobConfig:
    """The job config from the flags (after `_check_paths`); UserError on a bad value."""
    from preprocessing import datasets, job_config

    root, dataset = _ROOT.value or "", _DATASET.value
    layout = datasets.default_layout(
        dataset, root, _VIDEOS_DIR.value, _FRAMES_DIR.value, _FLOW_DIR.value
    )
    return job_config.JobConfig(
        splits_dir=_SPLITS_DIR.value or datasets.default_splits_dir(dataset, root),
        layout=layout,
        split=int(_SPLIT.value),
        subsets=_subsets(),
        source=_SOURCE.value,
        flow_algorithm=_FLOW_ALGORITHM.value,
        output_dir=_OUTPUT_DIR.value,
        num_shards=_NUM_SHARDS.value,
        shard_size_mb=_SHARD_SIZE_MB.value,
        command_line=shlex.join(["python", "-m", "preprocessing", *sys.argv[1:]]),
        rgb_chunks=_RGB_CHUNKS.value,
        dataset=dataset,
        split_csv=_SPLIT_CSV.value,
        test_fraction=_TEST_FRACTION.value,
        verify_jpeg_decode=_VERIFY_JPEG_DECODE.value,
        flow_cache_dir=_FLOW_CACHE_DIR.value,
        val_groups=_VAL_GROUPS.value,
        val_fraction=_VAL_FRACTION.value,
    )


def _check_format(output_dir: str) -> None:
    """UserError when --output_dir already holds the other format's data."""
    import tensorflow as tf

    from tfrecords.tfds_schema import is_tfds_dir

    has_manifest = tf.io.gfile.exists(posixpath.join(output_dir, MANIFEST_FILE))
    if _FORMAT.value == TFDS_FORMAT and has_manifest:
        raise UserError(
            f"--output_dir={output_dir}: holds SequenceExample shards ({MANIFEST_FILE}); give "
            "--format=tfds another directory"
        )
    if _FORMAT.value != TFDS_FORMAT and is_tfds_dir(output_dir):
        raise UserError(
            f"--output_dir={output_dir}: is a TFDS dataset folder; write SequenceExample "
            "shards to another directory"
        )


def _build_tfds(config: JobConfig, beam_args: list[str]) -> None:
    """--format=tfds: builds both modality configs, prints their folders and accounting."""
    from preprocessing import tfds_builders
    from tfrecords.manifest import FAILURES_FILE, read_manifest
    from tfrecords.schema import MODALITIES

    folders = tfds_builders.build(config, beam_args)
    failed = 0  # the same clips fail in both configs: the largest count is the job's
    for modality, folder_path in folders.items():
        manifest = read_manifest(folder_path)
        failed = max(failed, sum(manifest.failed.values()))
        counts = ", ".join(
            f"{s}: {manifest.written[s]} written, {manifest.failed[s]} failed of "
            f"{manifest.listed[s]} listed"
            for s in config.subsets
        )
        print(f"{modality}: {folder_path} ({counts})")
    if failed > _MAX_FAILURES.value:
        failures = posixpath.join(folders[MODALITIES[0]], FAILURES_FILE)
        print(
            f"error: {failed} clips failed (see {failures}); --max_failures={_MAX_FAILURES.value}",
            file=sys.stderr,
        )
        sys.exit(1)


def main(argv: Sequence[str]) -> None:
    """Checks the paths, runs the job, prints a summary; exit status as in the module docstring."""
    _check_paths()
    beam_args = list(argv[1:])
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in beam_args):
        beam_args.append("--runner=DirectRunner")
    _check_beam_args(beam_args)
    startup.import_tensorflow()  # after the flags and paths are checked
    from apache_beam.options.pipeline_options import PipelineOptions

    from optical_flow import compile_cache
    from preprocessing import pipeline
    from tfrecords.manifest import FAILURES_FILE
    from tfrecords.schema import MODALITIES

    config = _config()
    _check_format(config.output_dir)
    compile_cache.use_compile_cache(_XLA_CACHE_DIR.value)
    logging.info("Beam options: %s", beam_args)
    if _FORMAT.value == TFDS_FORMAT:
        _build_tfds(config, beam_args)
        return
    result = pipeline.run(config, PipelineOptions(beam_args))
    manifest = result.manifest
    for subset in config.subsets:
        shards = collections.Counter(s.modality for s in manifest.shards if s.subset == subset)
        print(
            f"{subset}: {manifest.written[subset]} written, {manifest.failed[subset]} failed "
            f"of {manifest.listed[subset]} listed, {manifest.rgb_chunks[subset]} RGB records "
            f"per video, shards: " + ", ".join(f"{shards[m]} {m}" for m in MODALITIES)
        )
    print(
        f"output: {config.output_dir} ({', '.join(f'{k}={v}' for k, v in result.counters.items())})"
    )
    counters = result.counters
    if config.source == "videos":
        seconds = counters.get("flow_compute_ms", 0) / 1000
        pairs = counters.get("flow_pairs_computed", 0)
        rate = f", {pairs / seconds:.1f} pairs/s per worker thread" if seconds else ""
        print(
            f"flow ({config.flow_algorithm}): {counters.get('clips_computed', 0)} clips computed, "
            f"{counters.get('clips_from_cache', 0)} from cache; {pairs} pairs in {seconds:.1f} "
            f"worker-seconds{rate}"
        )
    failed = sum(manifest.failed.values())
    if failed > _MAX_FAILURES.value:
        failures = posixpath.join(config.output_dir, FAILURES_FILE)
        print(
            f"error: {failed} clips failed (see {failures}); --max_failures={_MAX_FAILURES.value}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flag_as_required("output_dir")
    # Arguments absl does not parse go to Beam (`_check_beam_args` refuses unknown ones).
    run_binary(main, status=2, takes_arguments=True, known_only=True)
