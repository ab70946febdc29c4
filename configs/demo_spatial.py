r"""Spatial stream on the synthetic demo data, sized for 2 CPU cores.

    python train.py --config=configs/demo_spatial.py --workdir=workspace/runs/demo_spatial \
        --data_dir=workspace/demo/records

A tiny CNN from scratch on 64x64 RGB crops. The synthetic classes are appearances x motions:
one frame shows the appearance only, so this stream alone tops out near 1/M top-1 (the motion
is the temporal stream's job) and a training loss near ln(M).

Measured on 2 shared CPU cores (default synthetic data, 3 x 3 classes, 135 training videos;
`make demo` now holds out one group per class as val and trains on 108):
~30 s wall (400 steps at ~1,100 examples/s), train loss 1.13 (ln 3 = 1.10); on the 54 test
videos top-1 0.333 with the appearance right on 54/54 (eval.py; fused with the temporal
stream: top-1 1.0).
"""

import ml_collections

from configs import spatial
from configs.demo_common import shrink_for_cpu


def get_config() -> ml_collections.ConfigDict:
    """Returns the demo spatial config."""
    return shrink_for_cpu(spatial.get_config())
