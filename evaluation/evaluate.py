"""What `eval.py` runs: evaluate one stream's model, or fuse score files.

`evaluate_checkpoint` restores a training run's checkpoint and calls `evaluate_model`, which
runs the model in inference mode over every view of every video of a subset
(`input_pipeline.datasets.eval_dataset`), averages the softmax scores per video (or takes
the views' vote, `--view_aggregation=vote`) and writes
scores.npz, metrics.json, confusion.png and results.md. `fuse_files` reads `scores.npz` files
of several streams, fuses them (evaluation/fusion.py) and writes the same reports as a stream
evaluation, plus the Spatial | Temporal | Fused table.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from evaluation import fusion, metrics, reports, view_scoring
from evaluation.aggregation import DEFAULT_VIEW_AGGREGATION, AggregationError, aggregate_views
from evaluation.scores import SCORES_FILE, VideoScores, load_scores, save_scores
from input_pipeline import datasets
from models import builder
from tfrecords import manifest as manifest_lib
from training import checkpoints


def row_names(streams: Sequence[str]) -> list[str]:
    """Table row names: 'Spatial', 'Temporal'; repeated streams get their position appended."""
    names = []
    for index, stream in enumerate(streams):
        name = stream.capitalize()
        names.append(f"{name} #{index + 1}" if streams.count(stream) > 1 else name)
    return names


def write_outputs(
    output_dir: str,
    scores: VideoScores,
    extra: Mapping[str, object],
    row_name: str,
    other_rows: Sequence[tuple[str, Mapping[str, object]]],
    notes: Sequence[str],
    title: str,
) -> dict[str, object]:
    """Writes scores.npz and the reports of `scores` into `output_dir`.

    Args:
      output_dir: any tf.io.gfile directory (created).
      scores: the per-video scores to report.
      extra: entries added to metrics.json (provenance).
      row_name: name of the table row of `scores` in results.md.
      other_rows: table rows above it (e.g. the fused streams), see reports.metrics_table.
      notes: bullet points of results.md after the class and protocol notes.
      title: results.md heading and plot title.

    Returns:
      The metrics written to metrics.json.
    """
    computed = metrics.compute_metrics(scores.labels, scores.scores, list(scores.class_names))
    result = {
        **computed,
        "stream": scores.stream,
        "subset": scores.subset,
        "num_samples": scores.num_samples,
        "num_crops": scores.num_crops,
        "num_views_per_video": scores.num_views_per_video,
        "view_aggregation": scores.view_aggregation,
        "checkpoint": scores.checkpoint,
        "step": scores.step,
        **extra,
    }
    tf.io.gfile.makedirs(output_dir)
    save_scores(posixpath.join(output_dir, SCORES_FILE), scores)
    counts = metrics.confusion(scores.labels, scores.scores, len(scores.class_names))
    rows = [*other_rows, (row_name, result)]
    all_notes = [
        reports.classes_note(result),
        reports.protocol_note(scores.num_samples, scores.num_crops, scores.view_aggregation),
        *notes,
    ]
    reports.write_reports(
        output_dir, result, counts, list(scores.class_names), title, rows, all_notes
    )
    return result


def _summary(path: str, scores: VideoScores) -> dict[str, object]:
    computed = metrics.compute_metrics(scores.labels, scores.scores, list(scores.class_names))
    return {
        "path": path,
        "stream": scores.stream,
        "subset": scores.subset,
        "checkpoint": scores.checkpoint,
        "step": scores.step,
        **{k: computed[k] for k in ("top1", "top5", "mean_class_accuracy", "num_videos")},
    }


def fuse_files(
    score_paths: Sequence[str],
    output_dir: str,
    method: str,
    weights: Sequence[float] = (),
    train_score_paths: Sequence[str] = (),
) -> tuple[dict[str, object], str]:
    """Fuses streams' `scores.npz` files and writes the fused reports into `output_dir`.

    Args:
      score_paths: one scores.npz per stream, all of the same subset and videos.
      output_dir: where scores.npz, metrics.json, confusion.png and results.md go.
      method: one of fusion.FUSION_METHODS.
      weights: one weight per score file for 'weighted'.
      train_score_paths: training-subset scores.npz per stream, same order, for 'learned'.

    Returns:
      (fused metrics as written to metrics.json, Markdown table of the streams and the fusion).

    Raises:
      ValueError: an unreadable score file (naming it), or a fusion error (FusionError).
    """
    inputs = [(path, load_scores(path)) for path in score_paths]
    train_inputs = [(path, load_scores(path)) for path in train_score_paths]
    fused = fusion.fuse(inputs, method, weights, train_inputs)
    summaries = [_summary(path, scores) for path, scores in inputs]
    names = row_names([scores.stream for _, scores in inputs])
    label = method
    if method == "weighted":
        label += " " + ":".join(f"{w:g}" for w in weights)
    rows = list(zip(names, summaries, strict=True))
    extra = {
        "fusion": method,
        "fusion_weights": list(weights),
        "inputs": summaries,
        "train_inputs": list(train_score_paths),
    }
    notes = [
        f"{name}: `{path}` ({reports.checkpoint_text(scores.checkpoint, scores.step)})"
        for name, path, (_, scores) in zip(names, score_paths, inputs, strict=True)
    ]
    if method == "learned":
        notes.append(
            "Learned fusion: logistic regression on L2-normalised stream scores, fit on "
            f"the training subset ({', '.join(f'`{p}`' for p in train_score_paths)})."
        )
    title = f"Two-stream fusion ({label}), {fused.subset} subset"
    fused_row = f"Fused ({label})"
    result = write_outputs(output_dir, fused, extra, fused_row, rows, notes, title)
    return result, reports.metrics_table([*rows, (fused_row, result)])


def score_model(
    model: keras.Model,
    config: ml_collections.ConfigDict,
    data_dir: str,
    subset: str,
    checkpoint: str,
    step: int,
    keep_view_scores: bool = False,
    progress: bool = True,
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
    strategy: tf.distribute.Strategy | None = None,
) -> VideoScores:
    """Scores every video of `subset` with `model`, without writing anything.

    Each video is scored on K x crops views (`config.data.eval_num_samples` x
    `config.data.eval_num_crops`) in inference mode (dropout off, batch norm on its moving
    averages); its score is the mean of its views' softmax outputs, or their vote.

    Args:
      model: float32 [B, S, S, C] in stored units -> probabilities [B, num_classes]; it gets
        the views `input_pipeline.resample.model_input` cuts from the eval batches.
      config: the experiment config the model was trained with (stream, data, eval).
      data_dir: data directory (manifest.json and shards).
      subset: manifest subset to evaluate, e.g. 'test', 'val' (or 'train' for learned fusion).
      checkpoint: path prefix of the model's checkpoint, recorded in the scores.
      step: that checkpoint's global step, recorded in the scores.
      keep_view_scores: also keep every view's probabilities.
      progress: show a progress bar over videos.
      view_aggregation: 'mean' or 'vote' (evaluation/aggregation.py).
      strategy: the replicas the compiled scoring step runs on (`view_scoring`); the model's
        variables must have been created under its scope. None: the default strategy.

    Raises:
      ManifestError: no usable manifest or no `subset` shards in `data_dir`, or a shard
        found corrupt while reading it (naming it).
      AggregationError: a video without exactly K x crops views, or a number of evaluated
        videos that differs from the manifest's count of written records.
    """
    # Shards unchecked here: eval_dataset checks them (one sweep of gfile calls, not two).
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    num_samples, num_crops = config.data.eval_num_samples, config.data.eval_num_crops
    spec = datasets.sample_spec(config)
    dataset = datasets.eval_dataset(config, data_dir, subset)

    # Each sample's frames cross to the device once; its V views are cut there.
    predict = view_scoring.ViewScorer(
        lambda images: model(images, training=False),
        spec,
        datasets.eval_batch_samples(config),
        strategy,
    )
    expected = manifest.written[subset]
    try:
        video_ids, labels, scores, view_scores = aggregate_views(
            predict,
            dataset,
            manifest.num_classes,
            num_samples * num_crops,
            num_videos=expected,
            keep_view_scores=keep_view_scores,
            progress=progress,
            view_aggregation=view_aggregation,
        )
    except tf.errors.DataLossError:
        # tf.data does not name the damaged file; find it (raises ManifestError if a shard is).
        manifest_lib.check_records(data_dir, manifest, subset)
        raise
    if len(video_ids) != expected:
        raise AggregationError(
            f"{data_dir}: evaluated {len(video_ids)} '{subset}' videos but the manifest "
            f"records {expected} written; re-run `python -m preprocessing` for this directory"
        )
    return VideoScores(
        video_ids=video_ids,
        labels=labels,
        class_names=np.array(manifest.class_names, dtype=np.str_),
        scores=scores,
        subset=subset,
        stream=config.stream,
        num_samples=num_samples,
        num_crops=num_crops,
        checkpoint=checkpoint,
        step=step,
        view_scores=view_scores,
        view_aggregation=view_aggregation,
    )


def evaluate_model(
    model: keras.Model,
    config: ml_collections.ConfigDict,
    data_dir: str,
    subset: str,
    output_dir: str,
    checkpoint: str,
    step: int,
    keep_view_scores: bool = False,
    progress: bool = True,
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, object]:
    """Scores every video of `subset` (`score_model`) and writes the reports into `output_dir`.

    Args:
      model: as `score_model`.
      config: as `score_model`.
      data_dir: as `score_model`.
      subset: as `score_model`.
      output_dir: where scores.npz, metrics.json, confusion.png and results.md go.
      checkpoint: as `score_model`.
      step: as `score_model`.
      keep_view_scores: also store every view's probabilities in scores.npz.
      progress: show a progress bar over videos.
      view_aggregation: 'mean' or 'vote' (evaluation/aggregation.py).
      strategy: as `score_model`.

    Returns:
      The metrics written to metrics.json.

    Raises:
      ManifestError, AggregationError: see `score_model`.
    """
    video_scores = score_model(
        model,
        config,
        data_dir,
        subset,
        checkpoint,
        step,
        keep_view_scores=keep_view_scores,
        progress=progress,
        view_aggregation=view_aggregation,
        strategy=strategy,
    )
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    expected = manifest.written[subset]
    extra = {
        "data_dir": data_dir,
        "split": manifest.split,
        "num_videos_listed": manifest.listed[subset],
        "num_videos_failed": manifest.failed[subset],
    }
    notes = [
        f"Checkpoint: {reports.checkpoint_text(checkpoint, step)}.",
        f"Data: `{data_dir}`, split {manifest.split}, {subset} subset: "
        f"{manifest.listed[subset]} listed, {expected} written, "
        f"{manifest.failed[subset]} failed"
        + (f" (see {manifest_lib.FAILURES_FILE})." if manifest.failed[subset] else "."),
    ]
    title = f"{config.stream.capitalize()} stream, {subset} subset (split {manifest.split})"
    return write_outputs(
        output_dir, video_scores, extra, config.stream.capitalize(), [], notes, title
    )


def default_output_dir(workdir: str, subset: str) -> str:
    """`W/eval` for the test subset, `W/eval_<subset>` for others (e.g. training scores)."""
    return posixpath.join(workdir, "eval" if subset == "test" else f"eval_{subset}")


def check_config(config: ml_collections.ConfigDict) -> None:
    """Checks every config value evaluation uses (eval.py calls it before any other work).

    Raises:
      ConfigError: naming the first config key whose value cannot be used.
    """
    datasets.sample_spec(config)
    builder.check_image_size(config)


def evaluate_checkpoint(
    config: ml_collections.ConfigDict,
    workdir: str,
    data_dir: str,
    subset: str,
    checkpoint: str = "",
    output_dir: str = "",
    keep_view_scores: bool = False,
    progress: bool = True,
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, object]:
    """Restores a checkpoint of `workdir` and evaluates it with `evaluate_model`.

    Args:
      config: the stream's experiment config (model and eval protocol).
      workdir: the train.py workdir.
      data_dir: data directory (manifest.json and shards).
      subset: manifest subset, e.g. 'test'.
      checkpoint: checkpoint path prefix (W/checkpoints/ckpt-N); '' takes the latest.
      output_dir: reports directory; '' = `default_output_dir(workdir, subset)`.
      keep_view_scores: as `evaluate_model`.
      progress: as `evaluate_model`.
      view_aggregation: as `evaluate_model`.
      strategy: the replicas to evaluate on (the model is restored under its scope); None:
        the default strategy.

    Returns:
      The metrics written to metrics.json.

    Raises:
      ConfigError: a config value the evaluation pipeline cannot use (checked first).
      CheckpointError: no checkpoint, or one that does not fit the config's model.
      ManifestError, AggregationError: see `evaluate_model`.
    """
    check_config(config)  # the config first: a bad value stops before any I/O
    manifest = manifest_lib.read_manifest(data_dir)
    path = checkpoint or checkpoints.latest_checkpoint(workdir)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = checkpoints.restore_model(config, workdir, manifest.num_classes, path)
    return evaluate_model(
        model,
        config,
        data_dir,
        subset,
        output_dir or default_output_dir(workdir, subset),
        path,
        checkpoints.checkpoint_step(path),
        keep_view_scores=keep_view_scores,
        progress=progress,
        view_aggregation=view_aggregation,
        strategy=strategy,
    )
