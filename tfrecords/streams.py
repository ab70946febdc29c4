"""The two streams, each defined once: what it reads, how its samples stack, how it flips.

A stream is a typed `Stream`; `SPATIAL` and `TEMPORAL` are the only two, `STREAMS` maps
`config.stream` names to them and `get` looks one up. The input pipeline
(`input_pipeline.samples.SampleSpec` holds one), the model builder (input channels, RGB or
flow normalization), export metadata, the predictor and the demo all ask the stream instead
of testing its name::

    stream     records (modality)   frame keys          c   sample of L        T    C = T x c
    spatial    rgb                  (rgb,)              3   one RGB frame      1    3
    temporal   flow                 (flow_x, flow_y)    1   L flow frames      2L   2L

A flow stream's frames are quantized flow (`schema.quantize_flow`): mirroring a view negates
its x planes (`input_pipeline.resample.mirror_flow_x`) and the model dequantizes and scales it
(`models.normalization.FlowNormalization`) instead of applying a backbone's RGB preprocessing.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

from tfrecords import schema
from tfrecords.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Stream:
    """One stream of the two-stream network.

    Attributes:
      name: its `config.stream` name, also the export folder and scores name.
      modality: the records it reads: schema.RGB_MODALITY or schema.FLOW_MODALITY.
      frame_channels: c, channels of one decoded frame (3 RGB, 1 grayscale flow plane).
    """

    name: str
    modality: str
    frame_channels: int

    @property
    def flow(self) -> bool:
        """True for quantized flow: L stacked frames, x negated on mirror, flow normalization."""
        return self.modality == schema.FLOW_MODALITY

    @property
    def frame_keys(self) -> tuple[str, ...]:
        """`schema.parse_record` keys of the frame lists read at each time step."""
        return schema.FRAME_KEYS[self.modality]

    def sample_length(self, num_flow_frames: int) -> int:
        """Time steps per sample: L = `num_flow_frames` consecutive flow frames, or 1 RGB frame."""
        return num_flow_frames if self.flow else 1

    def frames_per_sample(self, num_flow_frames: int) -> int:
        """T, decoded frames per sample: 2L flow planes (x_0, y_0, x_1, ...) or 1 RGB frame."""
        return len(self.frame_keys) * self.sample_length(num_flow_frames)

    def channels(self, num_flow_frames: int) -> int:
        """C = T x c, channels of the model input: 2L for flow, 3 for RGB."""
        return self.frames_per_sample(num_flow_frames) * self.frame_channels


SPATIAL = Stream(name="spatial", modality=schema.RGB_MODALITY, frame_channels=3)
TEMPORAL = Stream(name="temporal", modality=schema.FLOW_MODALITY, frame_channels=1)
# name -> Stream, spatial first (the order of tables, fusion weights and the demo's stages).
STREAMS: Mapping[str, Stream] = types.MappingProxyType({s.name: s for s in (SPATIAL, TEMPORAL)})


def get(name: str) -> Stream:
    """The stream called `name` (`config.stream`).

    Raises:
      ConfigError: `name` is not a stream, naming `config.stream` and the valid names.
    """
    if name not in STREAMS:
        raise ConfigError(f"config.stream={name!r}: use one of {tuple(STREAMS)}")
    return STREAMS[name]
