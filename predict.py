r"""Classifies video files with exported streams: top-k classes per stream and fused.

    python predict.py --video=clip.mp4[,other.avi,'clips/*.avi'] \
        --spatial_model=DIR/spatial --temporal_model=DIR/temporal \
        [--top_k=5] [--fusion_weights=1,1.5] [--output_json=F.json] [--sheet=F.png] \
        [--num_samples=K --num_crops=V] [--flow_algorithm=dis]

Model directories are what `export.py --export_dir=DIR` writes (DIR/spatial, DIR/temporal); either
one alone works. Each video is decoded with OpenCV, resized as the training data were, its
optical flow computed with the temporal model's algorithm only for the frame pairs the
sampled stacks read, and scored on the evaluation's views (`evaluation/predictor.py`). A
table per video goes to stdout (`evaluation/predict_files.py`); a video that cannot be read
is one `error:` line on stderr and the run exits 1 after the others. `--output_json` and `--sheet`
are checked (writable, not a folder) before the models load; the JSON is written only when
at least one video was classified, never `[]` over an existing file.
"""

import os

# See eval.py: BFC reuses pages of the large view tensors. Must be set before TensorFlow starts.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# Nothing imported here loads TensorFlow: the flags are parsed (a typo reported) before it
# loads, in `main` (tfrecords/startup.py).
from absl import flags

from evaluation import DEFAULT_BATCH_VIEWS
from optical_flow import FLOW_ALGORITHMS
from tfrecords import output_checks, startup
from tfrecords.errors import UserError, print_error, run_binary

_VIDEO = flags.DEFINE_list("video", None, "Video files or glob patterns, comma-separated.")
_SPATIAL = flags.DEFINE_string("spatial_model", "", "Spatial export (export.py: DIR/spatial).")
_TEMPORAL = flags.DEFINE_string("temporal_model", "", "Temporal export (export.py: DIR/temporal).")
_TOP_K = flags.DEFINE_integer("top_k", 5, "Classes per stream in the table and the sheet.")
_WEIGHTS = flags.DEFINE_list(
    "fusion_weights", [], "Spatial,temporal weights of the fused average; default 1,1."
)
_OUTPUT_JSON = flags.DEFINE_string(
    "output_json", "", "Write a JSON list, one object per video, every class per stream."
)
_SHEET = flags.DEFINE_string(
    "sheet", "", "Write a PNG contact sheet to F.png (several videos: F_<video>.png each)."
)
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Samples per video; default: the exports' evaluation protocol."
)
_NUM_CROPS = flags.DEFINE_integer(
    "num_crops", None, "Crop views per sample (1, 5 or 10); default: the exports'."
)
_FLOW = flags.DEFINE_enum(
    "flow_algorithm",
    None,
    FLOW_ALGORITHMS,
    "Flow to compute; default: the one the temporal model learnt from (its export.json). "
    "Another one is scored too, with a warning on the sheet.",
)
_BATCH = flags.DEFINE_integer("batch_size", DEFAULT_BATCH_VIEWS, "Views per model call.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar over the flow pairs.")
_XLA_CACHE = flags.DEFINE_string(
    "xla_cache_dir",
    "",
    "Keep XLA's compiled programs (TV-L1 flow, the scoring step) here across runs: a later "
    "run skips compiling (optical_flow/compile_cache.py); '' = off.",
)


def _weights() -> tuple[float, float]:
    if not _WEIGHTS.value:
        return (1.0, 1.0)
    if not (_SPATIAL.value and _TEMPORAL.value):
        raise UserError("--fusion_weights needs both --spatial_model and --temporal_model")
    try:
        return tuple(float(w) for w in _WEIGHTS.value)
    except ValueError as e:
        raise UserError(f"--fusion_weights={','.join(_WEIGHTS.value)}: {e}") from e


def main(argv: list[str]) -> None:
    """Loads the models once and classifies every video; user errors exit 1 with one line."""
    del argv  # run_binary refuses positional arguments
    # Before the models load and any video is decoded: a bad path costs no work.
    for flag, path in (("--spatial_model", _SPATIAL.value), ("--temporal_model", _TEMPORAL.value)):
        if path:
            output_checks.check_input_dir(path, flag, fix="export.py")
    for flag, path in (("--output_json", _OUTPUT_JSON.value), ("--sheet", _SHEET.value)):
        if path:
            output_checks.check_output_file(path, flag)
    if _XLA_CACHE.value:
        output_checks.check_output_dir(_XLA_CACHE.value, "--xla_cache_dir")
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import predict_files, predictor
    from optical_flow import compile_cache

    compile_cache.use_compile_cache(_XLA_CACHE.value)
    models = predictor.Predictor(
        spatial_model=_SPATIAL.value,
        temporal_model=_TEMPORAL.value,
        fusion_weights=_weights(),
        num_samples=_NUM_SAMPLES.value,
        num_crops=_NUM_CROPS.value,
        flow_algorithm=_FLOW.value or "",
        batch_views=_BATCH.value,
        progress=_PROGRESS.value,
    )
    videos = predict_files.expand_videos(_VIDEO.value)
    failed = predict_files.predict_files(
        models, videos, _TOP_K.value, _OUTPUT_JSON.value, _SHEET.value
    )
    if failed:
        if len(videos) > 1:
            print_error(f"{failed} of {len(videos)} videos failed (see above)")
        raise SystemExit(1)


if __name__ == "__main__":
    flags.mark_flag_as_required("video")
    run_binary(main)
