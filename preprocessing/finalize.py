"""The Beam job's last step: check the accounting, publish the shards, write the manifest.

`Finalize` runs once, after every shard is written (temp shards and failures arrive as side
inputs): it checks that every listed clip was written or failed and that each modality holds
the records its videos need, renames the temp shards into the output directory, deletes
stale (and schema-v1) shards, writes failures.jsonl and classInd.txt, then manifest.json
(last, atomic), then removes the staging folder. A failed check raises before anything is
published, so no manifest points at inconsistent shards.
"""

from __future__ import annotations

import collections

import apache_beam as beam
from absl import logging

from preprocessing import outputs
from preprocessing.dataset import write_class_index
from preprocessing.job_config import JobConfig
from preprocessing.outputs import Failure, TempShard
from tfrecords.manifest import Manifest, write_manifest
from tfrecords.schema import FLOW_MODALITY, MODALITIES, RGB_MODALITY, SCHEMA_VERSION


def videos_per_class(
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


class Finalize(beam.DoFn):
    """Checks the accounting, moves shards into place, writes failures.jsonl, manifest.json."""

    def __init__(self, config: JobConfig, class_names: list[str], listed: dict[str, int]):
        self._config = config
        self._class_names = class_names
        self._listed = listed

    def process(self, unused_element: None, temp_shards: list[TempShard], failures: list[Failure]):
        """Runs once (`Create([None])`) with every temp shard and failure of the job.

        Raises:
          RuntimeError: the accounting does not add up (an internal error; nothing published).
        """
        out = self._config.output_dir
        rgb_chunks = {subset: self._config.rgb_chunks_for(subset) for subset in self._listed}
        per_class = {
            subset: videos_per_class(subset, temp_shards, self._class_names, rgb_chunks[subset])
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
            frame_resize=self._config.frame_resize,
        )
        write_manifest(out, manifest)
        outputs.remove_staging(out)
        logging.info("wrote %s: %s written, %s failed", out, written, failed)
