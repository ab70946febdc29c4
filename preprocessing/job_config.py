"""What the Beam job reads and writes: `JobConfig`, made from `python -m preprocessing`'s flags.

`JobConfig.check` names the flag of the first bad value before anything is read or written;
`preprocessing.pipeline.run` takes a JobConfig (Beam's own options travel separately).
"""

from __future__ import annotations

import dataclasses

from optical_flow.algorithms import FLOW_ALGORITHMS
from preprocessing import (
    DEFAULT_DATASET,
    DEFAULT_TEST_FRACTION,
    SOURCES,
    datasets,
    ucf101,
    validation,
)
from preprocessing import DEFAULT_RGB_CHUNKS as DEFAULT_RGB_CHUNKS
from preprocessing.clip_sources import frame_resize, videos_source_name
from preprocessing.dataset import Dataset
from preprocessing.flow_cache import FlowCache
from preprocessing.layout import Layout
from tfrecords.errors import UserError
from tfrecords.schema import check_num_chunks

# Subsets whose RGB is written as `rgb_chunks` strided chunks; the others (evaluation) are
# written as whole videos, one record each.
CHUNKED_SUBSETS = ("train",)


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
      dataset: one of `preprocessing.DATASETS`.
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
    dataset: str = DEFAULT_DATASET
    split_csv: str | None = None
    test_fraction: float = DEFAULT_TEST_FRACTION
    verify_jpeg_decode: bool = True
    flow_cache_dir: str | None = None
    val_groups: int | None = None
    val_fraction: float | None = None

    def check(self) -> None:
        """Raises UserError naming the field (as the binary's flag) of the first bad value."""
        if self.split not in ucf101.SPLITS:
            raise UserError(f"split={self.split!r}: use one of {ucf101.SPLITS}")
        if not self.subsets or len(set(self.subsets)) != len(self.subsets):
            raise UserError(f"subsets={self.subsets!r}: name distinct subsets")
        for subset in self.subsets:
            if subset not in validation.WRITABLE_SUBSETS:
                raise UserError(f"subsets: {subset!r} is not one of {validation.WRITABLE_SUBSETS}")
        validation.check(self.val_groups, self.val_fraction, self.subsets)
        if self.source not in SOURCES:
            raise UserError(f"source={self.source!r}: use one of {SOURCES}")
        if self.flow_algorithm not in FLOW_ALGORITHMS:
            raise UserError(f"flow_algorithm={self.flow_algorithm!r}: use one of {FLOW_ALGORITHMS}")
        if not self.output_dir:
            raise UserError("output_dir is empty: name the directory to write")
        if self.num_shards is not None and self.num_shards < 1:
            raise UserError(f"num_shards={self.num_shards}: use at least 1")
        if not self.shard_size_mb > 0:
            raise UserError(f"shard_size_mb={self.shard_size_mb}: use a positive size")
        if self.flow_cache_dir is not None and self.source != "videos":
            raise UserError(
                f"flow_cache_dir={self.flow_cache_dir}: a flow cache needs source='videos', "
                f"not {self.source!r}"
            )
        check_num_chunks(self.rgb_chunks)
        self.open_dataset()  # checks dataset, split_csv, test_fraction

    def open_dataset(self) -> Dataset:
        """The dataset to read (`preprocessing.datasets.create`); UserError on bad values."""
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
    def frame_resize(self) -> str:
        """The manifest's `frame_resize`: how the source sizes its frames."""
        return frame_resize(self.source)

    @property
    def flow_cache(self) -> FlowCache | None:
        """The flow cache of `flow_cache_dir` and `flow_algorithm`, or None without one."""
        if self.flow_cache_dir is None:
            return None
        return FlowCache(self.flow_cache_dir, self.flow_algorithm)
