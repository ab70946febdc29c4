r"""Evaluates a stream on a subset, watches a training run, or fuses streams' scores.

Evaluate the latest checkpoint of a stream (writes W/eval/, or W/eval_<subset>/)::

    python eval.py --config=configs/spatial.py --workdir=W --data_dir=OUT [--subset=test] \
        [--view_aggregation=mean|vote] [--strategy=default|mirrored|tpu]

Watch a training run: evaluate each checkpoint as it is written, on the val subset with a
quick protocol, TensorBoard summaries and best.json in W/eval_val/ (evaluation/watch.py)::

    python eval.py --config=configs/spatial.py --workdir=W --data_dir=OUT --watch \
        [--subset=val|test] [--watch_timeout=3600] [--watch_export=DIR]

Fuse two streams' test scores (writes F/)::

    python eval.py --fuse=W1/eval/scores.npz,W2/eval/scores.npz --output_dir=F \
        [--fusion=average | --fusion=weighted --fusion_weights=1,1.5 |
         --fusion=learned --fuse_train=W1/eval_train/scores.npz,W2/eval_train/scores.npz]

Exporting a stream as a SavedModel for `predict.py` is `export.py`'s job (the watcher's
`--watch_export` calls the same code for each new best checkpoint). Exit status 1 on bad
input (one line naming the file, flag or config key, no traceback).
"""

import os

# TensorFlow's default CPU allocator maps fresh pages for every large tensor (~1,000 page
# faults per 224x224x20 float32 flow sample); BFC reuses them: about +50% input throughput
# (bench/README.md). Must be set before TensorFlow starts.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# Nothing imported here loads TensorFlow: the flags are parsed (a typo reported) before it
# loads, in `main` (tfrecords/startup.py).
from absl import flags, logging

from evaluation import (
    DEFAULT_VIEW_AGGREGATION,
    DEFAULT_WATCH_SUBSET,
    DEFAULT_WATCH_TIMEOUT_S,
    FUSION_METHODS,
    VIEW_AGGREGATIONS,
)
from tfrecords import output_checks, startup
from tfrecords.errors import UserError, run_binary
from training import CHECKPOINTS, SINGLE_WORKER_STRATEGIES

_CONFIG = startup.define_config_flag(required=False, note=" Required unless --fuse.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training directory holding the checkpoints.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (manifest.json + shards).")
_SUBSET = flags.DEFINE_string(
    "subset",
    "",
    f"Subset to evaluate: '' = test ({DEFAULT_WATCH_SUBSET} with --watch); 'train' for "
    "--fuse_train.",
)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Checkpoint path; '' = the latest.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", "", "Reports directory; '' = W/eval (test) or W/eval_<subset>."
)
_VIEW_SCORES = flags.DEFINE_bool(
    "save_view_scores",
    False,
    "Also store every view's scores in scores.npz (V x K*crops x C float32: ~380 MB for "
    "UCF-101 test at 25 x 10 views).",
)
_VIEW_AGGREGATION = flags.DEFINE_enum(
    "view_aggregation",
    DEFAULT_VIEW_AGGREGATION,
    list(VIEW_AGGREGATIONS),
    "How a video's views make its score: mean (of the softmax scores) or vote (share of the "
    "views predicting each class, ties broken by the mean; the seed's test protocol).",
)
_STRATEGY = flags.DEFINE_enum(
    "strategy",
    "default",
    SINGLE_WORKER_STRATEGIES,
    "tf.distribute strategy the compiled scoring step runs on (the model is replicated; each "
    "batch is split over the replicas).",
)
_TPU = flags.DEFINE_string("tpu", "", "TPU name or grpc address for --strategy=tpu.")
_FUSE = flags.DEFINE_list("fuse", [], "scores.npz files to fuse, one per stream.")
_FUSION = flags.DEFINE_enum("fusion", "average", FUSION_METHODS, "Fusion method.")
_WEIGHTS = flags.DEFINE_list("fusion_weights", [], "Weights of --fusion=weighted, e.g. 1,1.5.")
_FUSE_TRAIN = flags.DEFINE_list(
    "fuse_train", [], "Training-subset scores.npz per stream, for --fusion=learned."
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar over videos.")
_WATCH = flags.DEFINE_bool(
    "watch",
    False,
    "Evaluate every checkpoint of --workdir as training writes it (quick protocol of "
    "config.eval.watch_*), writing TensorBoard summaries and best.json to W/eval_<subset>/; "
    "stops after the run's last step (evaluation/watch.py).",
)
_WATCH_TIMEOUT = flags.DEFINE_float(
    "watch_timeout",
    DEFAULT_WATCH_TIMEOUT_S,
    "--watch: stop after this many seconds without a new checkpoint.",
)
_WATCH_EXPORT = flags.DEFINE_string(
    "watch_export", "", "--watch: export each new best checkpoint to DIR/<stream>."
)


def _weights() -> list[float]:
    try:
        return [float(w) for w in _WEIGHTS.value]
    except ValueError as e:
        raise UserError(f"--fusion_weights={','.join(_WEIGHTS.value)}: {e}") from e


def _strategy():
    from training import strategy as strategy_lib

    strategy = strategy_lib.create_strategy(_STRATEGY.value, _TPU.value)
    strategy_lib.log_devices(_STRATEGY.value, strategy)
    return strategy


def _fuse() -> None:
    for name, value in (("config", _CONFIG.value), ("workdir", _WORKDIR.value)):
        if value:
            raise UserError(f"--{name} is not used with --fuse; drop it")
    if _STRATEGY.value != "default" or _TPU.value:
        raise UserError("--strategy and --tpu are not used with --fuse (numpy only); drop them")
    if not _OUTPUT_DIR.value:
        raise UserError("--fuse needs --output_dir for the fused reports")
    for path in (*_FUSE.value, *_FUSE_TRAIN.value):
        output_checks.check_input_file(path, "--fuse" if path in _FUSE.value else "--fuse_train")
    output_checks.check_output_dir(_OUTPUT_DIR.value, "--output_dir")
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import evaluate

    result, table = evaluate.fuse_files(
        _FUSE.value, _OUTPUT_DIR.value, _FUSION.value, _weights(), _FUSE_TRAIN.value
    )
    print(table)
    logging.info("Fused top-1 %.4f; reports in %s", result["top1"], _OUTPUT_DIR.value)


def _model_flags() -> None:
    for name, value in (
        ("config", _CONFIG.value),
        ("workdir", _WORKDIR.value),
        ("data_dir", _DATA_DIR.value),
    ):
        if not value:
            raise UserError(f"--{name} is required (or use --fuse=... to fuse score files)")
    for name, value in (("fusion_weights", _WEIGHTS.value), ("fuse_train", _FUSE_TRAIN.value)):
        if value:
            raise UserError(f"--{name} is only used with --fuse")
    if not _WATCH.value:  # the watcher may start before train.py creates the workdir
        output_checks.check_input_dir(_WORKDIR.value, "--workdir", fix="train.py")
    output_checks.check_data_dir(_DATA_DIR.value)
    if _CHECKPOINT.value:
        output_checks.check_checkpoint(
            _CHECKPOINT.value, "--checkpoint", f"{_WORKDIR.value}/{CHECKPOINTS}/ckpt-1000"
        )
    # The reports go to --output_dir, or under the workdir (W/eval*/).
    if _OUTPUT_DIR.value:
        output_checks.check_output_dir(_OUTPUT_DIR.value, "--output_dir")
    else:
        output_checks.check_output_dir(_WORKDIR.value, "--workdir")


def _watch() -> None:
    for name, value in (
        ("checkpoint", _CHECKPOINT.value),
        ("output_dir", _OUTPUT_DIR.value),
        ("save_view_scores", _VIEW_SCORES.value),
    ):
        if value:
            raise UserError(f"--{name} is not used with --watch; drop it")
    if _WATCH_EXPORT.value:
        output_checks.check_output_dir(_WATCH_EXPORT.value, "--watch_export")
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import evaluate, watch

    evaluate.check_config(_CONFIG.value)  # before the strategy: a bad value is the one line
    result = watch.watch(
        _CONFIG.value,
        _WORKDIR.value,
        _DATA_DIR.value,
        _SUBSET.value or DEFAULT_WATCH_SUBSET,
        _WATCH_TIMEOUT.value,
        _WATCH_EXPORT.value,
        _VIEW_AGGREGATION.value,
        _strategy(),
    )
    logging.info(
        "%d checkpoints evaluated, %d skipped (deleted before read), %s",
        len(result.evaluated),
        len(result.skipped),
        "last step reached" if result.finished else "timed out",
    )
    if result.best is not None:
        print(
            f"best: {result.best.checkpoint} (step {result.best.step}, top-1 "
            f"{result.best.metrics['top1']:.4f})"
        )


def main(argv: list[str]) -> None:
    """Dispatches to fusion, the watcher or evaluation."""
    del argv  # run_binary refuses positional arguments
    if _FUSE.value:
        _fuse()
        return
    _model_flags()
    if _WATCH.value:
        _watch()
        return
    if _WATCH_EXPORT.value:
        raise UserError("--watch_export is only used with --watch")
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import evaluate

    evaluate.check_config(_CONFIG.value)  # before the strategy: a bad value is the one line
    result = evaluate.evaluate_checkpoint(
        _CONFIG.value,
        _WORKDIR.value,
        _DATA_DIR.value,
        _SUBSET.value or "test",
        _CHECKPOINT.value,
        _OUTPUT_DIR.value,
        keep_view_scores=_VIEW_SCORES.value,
        progress=_PROGRESS.value,
        view_aggregation=_VIEW_AGGREGATION.value,
        strategy=_strategy(),
    )
    logging.info(
        "top-1 %.4f, top-5 %.4f, mean-class %.4f on %d videos",
        result["top1"],
        result["top5"],
        result["mean_class_accuracy"],
        result["num_videos"],
    )


if __name__ == "__main__":
    run_binary(main)
