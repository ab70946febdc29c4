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
"""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
    """Returns the spatial-stream config for real UCF-101."""
    config = base.get_config()
    config.stream = "spatial"
    config.model.name = "inception_v3"
    config.model.weights = "imagenet"
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
