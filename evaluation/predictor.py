"""Classify video files with exported streams, through the evaluation's own sampling and cuts.

`Predictor(spatial_model=DIR, temporal_model=DIR).predict(path)` (either model alone works;
DIRs are what `export.py` writes, read with their `export.json`)::

    video file -> video_sampling.read_video: decoded with OpenCV, resized by the archives'
       rule (short side 256, aspect ratio kept: video_frames.archive_frame_size); only the RGB
       frames and flow pairs the K samples read are encoded and computed, with the temporal
       model's flow algorithm -> a schema.Video
    -> schema.encode_records (the records the Beam job's videos source writes for the file)
    -> per stream, as eval.py: samples.gather_eval -> samples.decode_eval (K x V views)
       -> resample.model_input -> the export's `serving_float` signature (compiled
          together with XLA, evaluation/view_scoring.py; the views are cut from the video's
          own frame size, padded to it, so a frame wider than export.json's `frame_size`,
          which `serving_sample` would refuse, is scored as eval.py would score its record)
       -> aggregation.aggregate_views (mean softmax over the K x V views)
    -> fusion.weighted of the streams' scores (1:1 = eval.py's average fusion)

So a video's scores are eval.py's scores of the records the Beam job writes for it, bit for
bit in the tests (tests/test_predict.py compares every test video of a trained pair): same
frames and flow bytes, same sampling, decoding, cutting and model, only fewer frames encoded.

What predict.py runs over its videos (tables, JSON, contact sheets) is
`evaluation.predict_files`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from evaluation import DEFAULT_BATCH_VIEWS as DEFAULT_BATCH_VIEWS
from evaluation import (
    contact_sheet,
    export,
    export_metadata,
    fusion,
    video_sampling,
    view_scoring,
)
from evaluation.aggregation import aggregate_views
from input_pipeline import datasets, samples
from optical_flow.algorithms import FLOW_ALGORITHMS
from tfrecords import schema
from tfrecords.errors import UserError
from tfrecords.streams import SPATIAL, STREAMS, TEMPORAL

FUSED = "fused"
SECONDS = ("decode", "flow", "model")


class PredictError(UserError):
    """An input the predictor cannot use; the message names it and what to do."""


@dataclasses.dataclass(frozen=True)
class _Stream:
    """A loaded export: its metadata, the views it scores and its serving function."""

    name: str
    directory: str
    metadata: export_metadata.ExportMetadata
    spec: samples.SampleSpec
    loaded: object  # the SavedModel object; keeps the signature's variables alive
    predict: view_scoring.ViewScorer


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One video's class probabilities per stream and fused.

    Attributes:
      video: the file.
      class_names: C class names in label order.
      scores: 'spatial' and/or 'temporal' (the models given) and 'fused' -> float32 [C],
        the mean softmax over the stream's K x V views; fused = the weighted average of the
        streams (one stream: itself).
      frames: N, frames decoded.
      seconds: 'decode' (decode, resize, JPEG), 'flow' (optical flow), 'model' (views, model).
      flow_algorithm: the flow computed, or None without a temporal model.
      flow_pairs: frame pairs whose flow was computed (of N - 1).
      num_views: stream -> K x V views averaged.
      previews: sampled frames and flow for a contact sheet (empty unless asked for).
      protocol: stream -> (K samples, V crops per sample) of its views.
      trained_flow_algorithm: the flow the temporal model learnt from (its export), or None
        without a temporal model.
    """

    video: str
    class_names: tuple[str, ...]
    scores: Mapping[str, np.ndarray]
    frames: int
    seconds: Mapping[str, float]
    flow_algorithm: str | None
    flow_pairs: int
    num_views: Mapping[str, int]
    previews: tuple[contact_sheet.Preview, ...] = ()
    protocol: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    trained_flow_algorithm: str | None = None

    def ranking(self, name: str, top_k: int | None = None) -> list[tuple[str, float]]:
        """[(class name, probability)] of 'spatial', 'temporal' or 'fused', most probable first.

        Ties keep label order. `top_k` None lists every class.
        """
        probabilities = self.scores[name]
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        return [(self.class_names[i], float(probabilities[i])) for i in order]

    def to_json(self) -> dict[str, object]:
        """The JSON object of this video: every class per stream, most probable first.

        `spatial` or `temporal` is null when that model was not given.
        """
        result: dict[str, object] = {"video": self.video}
        for name in (*STREAMS, FUSED):
            result[name] = (
                [{"class": c, "probability": p} for c, p in self.ranking(name)]
                if name in self.scores
                else None
            )
        result["frames"] = self.frames
        result["seconds"] = {k: round(self.seconds[k], 4) for k in SECONDS}
        return result


def load_stream(
    name: str,
    directory: str,
    num_samples: int | None,
    num_crops: int | None,
    batch_views: int = DEFAULT_BATCH_VIEWS,
) -> _Stream:
    """Loads the export `directory` of stream `name` ('spatial' or 'temporal').

    Its views are scored as eval.py scores them (`view_scoring.ViewScorer`: the resample
    and the export's `serving_float` signature compiled together, on the default strategy),
    `batch_views` views (in whole samples) per call.

    Raises:
      ExportError: `directory` is not an export (see `export_metadata.read_metadata`), or lacks the
        float signature.
      PredictError: it is an export of the other stream, or `num_samples` or `num_crops`
        cannot be used.
    """
    try:
        metadata = export_metadata.read_metadata(directory)
    except export_metadata.ExportError as e:
        raise export_metadata.ExportError(f"{name} model {e}") from e
    if metadata.stream != name:
        raise PredictError(
            f"{name} model {directory}: this is a {metadata.stream} export; give it as the "
            f"{metadata.stream} model"
        )
    try:
        spec = metadata.sample_spec(num_samples, num_crops)
    except ValueError as e:
        raise PredictError(f"{name} model {directory}: {e}") from e
    loaded = tf.saved_model.load(directory)
    if export.FLOAT_SIGNATURE not in loaded.signatures:
        raise export_metadata.ExportError(
            f"{directory}: no '{export.FLOAT_SIGNATURE}' signature (an older export); "
            "export it again with `export.py`"
        )
    signature = loaded.signatures[export.FLOAT_SIGNATURE]
    predict = view_scoring.ViewScorer(
        lambda images: signature(**{export.SERVING_INPUT: images})[export.SERVING_OUTPUT],
        spec,
        datasets.samples_per_batch(batch_views, spec.eval_num_crops),
    )
    return _Stream(name, directory, metadata, spec, loaded, predict)


def _check_same_classes(first: _Stream, other: _Stream) -> None:
    """Raises PredictError naming the first class where two exports' lists differ."""
    a, b = first.metadata.class_names, other.metadata.class_names
    if a == b:
        return
    index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    where = (
        f"{len(a)} vs {len(b)} classes"
        if index is None
        else f"class {index} is {a[index]!r} vs {b[index]!r}"
    )
    raise PredictError(
        f"{first.directory} and {other.directory} have different class lists ({where}); "
        "fused scores need the same classes in the same order: export both streams with "
        "the same data directory"
    )


class Predictor:
    """Exported streams, loaded once, that classify video files (see the module docstring).

    Args:
      spatial_model: export directory of the spatial stream, or '' for none.
      temporal_model: export directory of the temporal stream, or '' for none.
      fusion_weights: (spatial, temporal) weights of the fused average, >= 0, not both 0.
      num_samples: K, samples per video; None = each export's evaluation protocol.
      num_crops: V, crop views per sample (1, 5 or 10); None = the export's.
      flow_algorithm: flow to compute; '' = the one the temporal model was trained on
        (another one is faster or slower, but the scores then differ from eval.py's).
      batch_views: views per model call (whole samples; memory, not results).
      progress: show a progress bar over the flow pairs.

    Raises:
      ExportError: a directory that is not an export.
      PredictError: no model, a model of the other stream, class lists that differ, or
        another argument that cannot be used (named with its value).
    """

    def __init__(
        self,
        spatial_model: str = "",
        temporal_model: str = "",
        fusion_weights: Sequence[float] = (1.0, 1.0),
        num_samples: int | None = None,
        num_crops: int | None = None,
        flow_algorithm: str = "",
        batch_views: int = DEFAULT_BATCH_VIEWS,
        progress: bool = True,
    ):
        if not (spatial_model or temporal_model):
            raise PredictError(
                "no model: give the export directory of the spatial stream, the temporal "
                "stream or both"
            )
        if not isinstance(batch_views, int) or batch_views < 1:
            raise PredictError(f"batch_views={batch_views!r}: use a positive number of views")
        directories = {SPATIAL.name: spatial_model, TEMPORAL.name: temporal_model}
        self._streams = [
            load_stream(name, directory, num_samples, num_crops, batch_views)
            for name, directory in directories.items()
            if directory
        ]
        first = self._streams[0]
        for other in self._streams[1:]:
            _check_same_classes(first, other)
        self.class_names = first.metadata.class_names
        weights = [float(w) for w in fusion_weights]
        if len(weights) != len(STREAMS) or min(weights) < 0 or sum(weights) <= 0:
            raise PredictError(
                f"fusion weights {list(fusion_weights)}: give two weights (spatial, temporal), "
                ">= 0 and not both zero"
            )
        self._weights = dict(zip(STREAMS, weights, strict=True))
        self._batch_views = batch_views
        self._progress = progress
        self._inputs = [video_sampling.StreamInput(s.spec) for s in self._streams]
        temporal = next((s for s in self._streams if s.spec.stream.flow), None)
        self.flow_algorithm = None
        self.trained_flow_algorithm = None
        if temporal is not None:
            trained = self.trained_flow_algorithm = temporal.metadata.flow_algorithm
            self.flow_algorithm = flow_algorithm or trained
            if self.flow_algorithm not in FLOW_ALGORITHMS:
                origin = "" if flow_algorithm else f" (the one {temporal.directory} was trained on)"
                raise PredictError(
                    f"flow algorithm '{self.flow_algorithm}'{origin}: use one of {FLOW_ALGORITHMS}"
                )
            if self.flow_algorithm != trained:
                logging.warning(
                    "%s was trained on %s flow; computing %s instead: its scores will differ "
                    "from eval.py's",
                    temporal.directory,
                    trained,
                    self.flow_algorithm,
                )

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams loaded: 'spatial' and/or 'temporal'."""
        return tuple(s.name for s in self._streams)

    def _stream_scores(
        self, stream: _Stream, record: bytes, frame_hw: tuple[int, int]
    ) -> np.ndarray:
        """float32 [C]: the mean softmax over the stream's K x V views of one record."""
        spec = stream.spec
        dataset = datasets.eval_views(
            tf.data.Dataset.from_tensors(record),
            spec,
            datasets.samples_per_batch(self._batch_views, spec.eval_num_crops),
            frame_hw,
        )
        _, _, scores, _ = aggregate_views(
            stream.predict,
            dataset,
            len(self.class_names),
            spec.eval_num_samples * spec.eval_num_crops,
            progress=False,
        )
        return scores[0]

    def predict(self, path: str, num_previews: int = 0) -> Prediction:
        """Classifies the video file `path` (any container OpenCV reads; local or gs://).

        Args:
          path: the video.
          num_previews: sampled positions to keep for a contact sheet (0: none).

        Returns:
          Its Prediction.

        Raises:
          VideoError: no such file, a directory, unreadable, not a video OpenCV opens,
            truncated, or fewer than 2 frames (see `video_sampling.read_video`).
        """
        sampled = video_sampling.read_video(
            path, self._inputs, self.flow_algorithm, num_previews, self._progress
        )
        start = time.perf_counter()
        records = schema.encode_records(sampled.video, 1)
        video = sampled.video
        scores = {
            s.name: self._stream_scores(
                s, records[s.spec.modality][0], video.frame_hw(s.spec.modality)
            )
            for s in self._streams
        }
        names = list(scores)
        fused = scores[names[0]]
        if len(names) > 1:
            fused = fusion.weighted([scores[n] for n in names], [self._weights[n] for n in names])
        scores[FUSED] = np.asarray(fused, np.float32)
        model_seconds = time.perf_counter() - start
        return Prediction(
            video=path,
            class_names=self.class_names,
            scores=scores,
            frames=sampled.num_frames,
            seconds={
                "decode": sampled.decode_seconds,
                "flow": sampled.flow_seconds,
                "model": model_seconds,
            },
            flow_algorithm=self.flow_algorithm,
            flow_pairs=sampled.flow_pairs,
            num_views={
                s.name: s.spec.eval_num_samples * s.spec.eval_num_crops for s in self._streams
            },
            previews=sampled.previews,
            protocol={
                s.name: (s.spec.eval_num_samples, s.spec.eval_num_crops) for s in self._streams
            },
            trained_flow_algorithm=self.trained_flow_algorithm,
        )
