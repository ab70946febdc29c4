"""TSN's training recipe, shared by `spatial.py:tsn` and `temporal.py:tsn` (not a config).

Temporal Segment Networks (Wang et al., ECCV 2016; their code, its PyTorch port and
mmaction2 carry the same recipe): K = 3 segments per video, one snippet from each, one crop
and flip for all, class scores averaged before the softmax; partial batch norm; SGD momentum
0.9, weight decay 5e-4, batch 256, learning rate x0.1 at fixed iterations; cross-modality
initialisation of the flow network; 25 x 10 testing (`configs/base.py`'s eval settings).

TSN's learning rates and iteration counts are for its batch of 256 examples; K = 3 makes
each example three backbone passes, so one GPU runs RUN_BATCH examples (96 images) a step.
The rate follows the linear rule (`train.reference_batch_size`) and the step counts are
scaled by REFERENCE_BATCH / RUN_BATCH here, so a run sees TSN's number of examples at each
learning-rate drop. `--config.train.batch_size` rescales the rate, not these step counts.
"""

import ml_collections

NUM_SEGMENTS = 3
REFERENCE_BATCH = 256  # TSN's batch, for which its rates and iteration counts are given
RUN_BATCH = 32  # examples per step here: 96 backbone images, what a 16 GB GPU holds


def apply(
    config: ml_collections.ConfigDict,
    dropout: float,
    learning_rate: float,
    lr_boundaries: tuple[int, ...],
    num_steps: int,
) -> None:
    """Sets TSN's recipe on `config`, its iterations given at TSN's batch of 256.

    Args:
      config: a stream config from `configs/base.py`.
      dropout: before the classifier (TSN: 0.8 spatial, 0.7 temporal).
      learning_rate: at batch 256.
      lr_boundaries: iterations at batch 256 after which the rate drops x0.1.
      num_steps: iterations at batch 256.
    """
    scale = REFERENCE_BATCH // RUN_BATCH
    config.data.num_segments = NUM_SEGMENTS
    config.model.weights = "imagenet"
    config.model.dropout = dropout
    train = config.train
    train.partial_bn = True
    train.optimizer = "sgd"
    train.momentum = 0.9
    train.weight_decay = 5e-4
    train.batch_size = RUN_BATCH
    train.reference_batch_size = REFERENCE_BATCH
    train.learning_rate = learning_rate
    train.lr_decay_factor = 0.1
    train.lr_boundaries = tuple(step * scale for step in lr_boundaries)
    train.num_steps = num_steps * scale
    train.num_epochs = 0.0
    # One phase: every layer fine-tunes from the start (partial BN keeps it stable).
    train.head_only_steps = 0
    train.head_only_epochs = 0.0
    train.finetune_after_layer = ""
