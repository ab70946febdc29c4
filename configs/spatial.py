r"""Spatial stream on real UCF-101 (split 1), one GPU: ImageNet InceptionV3 in two phases.

Fine-tuned as the seed did: the head alone, then the top two inception blocks.

    python train.py --config=configs/spatial.py --workdir=workspace/runs/spatial \
        --data_dir=workspace/ucf101/records

Schedule (batch 32, 9,537 training videos = 298 steps per epoch): 3,000 steps (~10 epochs)
head only at lr 1e-2, then layers after `mixed8` at lr 1e-3, x0.1 after step 7,000, stop at
9,000 (~30 epochs). SGD momentum 0.9 throughout (the seed: RMSprop, then SGD 1e-4). The
rates are given at reference batch 32 and scale linearly with `--config.train.batch_size`;
the step counts do not, so a different batch sees a different number of epochs (scale them
by 32 / batch to keep the epochs).
Expected time: not measured here (CPU only); InceptionV3 at 224 x 32 is roughly 0.1-0.2 s per
step on one current GPU, so about 15-30 minutes plus input. Needs the ImageNet weights:
online Keras downloads them; offline pass `--config.model.weights=/path/inception_v3_notop.h5`.

Variant `configs/spatial.py:tsn`: TSN's RGB recipe (`configs/tsn.py`) on InceptionV3 (TSN's
BN-Inception is not a Keras application; InceptionV3 is its batch-normalized successor):
K = 3 segments, partial batch norm, dropout 0.8, all layers from the start, lr 1e-3 at batch
256, x0.1 after 2,000 and 4,000 of 4,500 iterations, run at batch 32 (lr 1.25e-4, x0.1
after steps 16,000 and 32,000 of 36,000: TSN's examples, ~120 epochs). Aims at TSN's RGB
row with segments, 85.7% on split 1 (84.5% without).

    python train.py --config=configs/spatial.py:tsn --workdir=workspace/runs/spatial_tsn \
        --data_dir=workspace/ucf101/records

Expected time: not measured here (CPU only); a step is 96 InceptionV3 passes, 3x the
default's, for 4x its steps: plan on about 12x the default's time.
"""

import ml_collections

from configs import base, tsn

TSN = "tsn"


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """Returns the spatial-stream config for real UCF-101; `variant` 'tsn' gives TSN's recipe.

    Raises:
      ValueError: `variant` is not 'tsn'.
    """
    config = base.get_config()
    config.stream = "spatial"
    config.model.name = "inception_v3"
    config.model.weights = "imagenet"
    if variant == TSN:
        tsn.apply(
            config, dropout=0.8, learning_rate=1e-3, lr_boundaries=(2000, 4000), num_steps=4500
        )
        return config
    if variant:
        raise ValueError(f"--config=configs/spatial.py:{variant}: use '{TSN}' or no variant")
    config.model.dropout = 0.8
    train = config.train
    train.batch_size = 32
    train.reference_batch_size = 32
    train.num_steps = 9000
    train.num_epochs = 0.0
    train.head_only_steps = 3000
    train.head_learning_rate = 1e-2
    train.finetune_after_layer = "mixed8"
    train.learning_rate = 1e-3
    train.lr_boundaries = (7000,)
    train.weight_decay = 1e-4
    return config
