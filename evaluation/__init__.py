"""Library code of eval.py and export.py: video-level scores, metrics, fusion, reports, export.

The names and defaults a binary's flags offer are defined here, not in the modules that use
them (which import them from here): this file imports nothing, so a binary defines and
parses its flags before TensorFlow loads (tfrecords/startup.py), and a typo costs no import.
"""

# How a video's views make its score (evaluation/aggregation.py).
VIEW_AGGREGATIONS = ("mean", "vote")
DEFAULT_VIEW_AGGREGATION = "mean"
# How streams' scores are fused (evaluation/fusion.py).
FUSION_METHODS = ("average", "weighted", "learned")
# The watcher (evaluation/watch.py): its subset, and its wait for a new checkpoint.
DEFAULT_WATCH_SUBSET = "val"
DEFAULT_WATCH_TIMEOUT_S = 3600.0
# Views per model call of predict.py unless told otherwise: configs/base.py's eval batch.
DEFAULT_BATCH_VIEWS = 50
# export.py's SavedModels go to W/<this> without --export_dir (evaluation/export.py).
DEFAULT_EXPORT_DIR = "export"
