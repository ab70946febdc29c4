r"""Temporal stream on the synthetic demo data, sized for 2 CPU cores.

    python train.py --config=configs/demo_temporal.py --workdir=workspace/runs/demo_temporal \
        --data_dir=workspace/demo/records

A tiny CNN from scratch on 64x64 crops of L = 10 flow frames (20 channels), mean flow
subtracted. The synthetic classes are appearances x motions: flow shows the motion only, so
this stream alone tops out near 1/A top-1 (fusion recovers the rest).

Measured on 2 shared CPU cores (default synthetic data, 3 x 3 classes, 135 training videos;
`make demo` now holds out one group per class as val and trains on 108):
~45 s wall (400 steps at ~400 examples/s, window decodes on the host and the resize in the
step sharing the 2 cores), train loss 1.26 (ln 3 = 1.10); on the 54 test videos top-1
0.333 with the motion right on 54/54 (eval.py; fused with the spatial stream: top-1 1.0).
"""

import ml_collections

from configs import temporal
from configs.demo_common import shrink_for_cpu


def get_config() -> ml_collections.ConfigDict:
    """Returns the demo temporal config."""
    return shrink_for_cpu(temporal.get_config())
