"""The 2-CPU-core settings both demo configs share (not a config of its own).

`configs/demo_spatial.py` and `configs/demo_temporal.py` take their stream's full config and
apply `shrink_for_cpu`: a tiny CNN from scratch on 64x64 crops, 400 steps of batch 32 at lr
0.05 (given for batch 32, so it scales with `--config.train.batch_size`).
"""

import ml_collections


def shrink_for_cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Returns `config` with the demo's model, input size and schedule set in place."""
    config.data.image_size = 64
    config.data.shuffle_buffer = 256
    config.model.name = "tiny"
    config.model.weights = ""
    config.model.tiny_widths = (16, 32, 64)
    config.model.dropout = 0.2
    train = config.train
    train.batch_size = 32
    train.reference_batch_size = 32
    train.num_steps = 400
    train.head_only_steps = 0
    train.finetune_after_layer = ""
    train.learning_rate = 0.05
    train.lr_boundaries = (300,)
    train.weight_decay = 1e-4
    train.log_every_steps = 20
    train.checkpoint_every_steps = 100
    config.eval.batch_size = 50
    return config
