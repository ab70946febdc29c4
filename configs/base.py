"""Shared defaults of every experiment; stream configs import this and change a few fields.

Not meant to be run on its own: use `configs/spatial.py`, `configs/temporal.py` or their
`demo_*` variants. Every key the code reads is defined here (no `config.get(k, default)` in
library code); derived values are computed by the code that needs them, in one place.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the defaults shared by the spatial and temporal configs."""
    config = ml_collections.ConfigDict()
    # 'spatial' (one RGB frame per sample) or 'temporal' (L stacked flow frames).
    config.stream = "spatial"
    config.seed = 0

    # Input pipeline (input_pipeline/): sampling, augmentation, batching.
    data = config.data = ml_collections.ConfigDict()
    data.image_size = 224  # model input height = width
    data.num_flow_frames = 10  # L: a temporal sample has 2L channels (x, y interleaved)
    # Multi-scale corner cropping (TSN): crop sides as fractions of the frame's short side
    # (256 -> 256, 224, 192, 168), chosen independently for height and width with at most
    # `max_scale_jitter` steps between them (aspect jitter), at one of 5 positions.
    data.crop_scales = (1.0, 0.875, 0.75, 0.66)
    data.max_scale_jitter = 1
    data.random_flip = True
    # Samples (a record's gathered, still-encoded frames, ~20-100 KB) shuffled before decoding;
    # shuffling whole records (~1-3 MB each) would hold gigabytes.
    data.shuffle_buffer = 1024
    # M samples (independent starts, crops, flips) drawn per record read: a flow record holds
    # a whole video (~1.4 MB), an RGB training record one of K strided chunks of it, so
    # reading a record once per sample would bound throughput; one pass over the shards
    # yields M samples per record (K x M per video for RGB).
    data.train_samples_per_video = 8
    # K snippets per training example, one drawn in each of K equal segments of the video,
    # one crop and flip for all; the model averages their class scores before the softmax
    # (TSN's segmental consensus). 1: one snippet from the whole video (Simonyan, the seed).
    # Evaluation does not change with K (eval_num_samples x eval_num_crops views).
    data.num_segments = 1
    data.deterministic = False  # tf.data determinism (True makes runs repeatable)
    data.num_parallel_reads = 4  # shards read at once (interleave cycle length)
    # Eval views: K samples uniformly spaced over the video x crops (10 = 4 corners +
    # centre, and their mirror images), as Simonyan & Zisserman test.
    data.eval_num_samples = 25
    data.eval_num_crops = 10
    data.eval_crop_scale = 0.875  # eval crop side / short side (256 -> 224), then resized
    # JPEG IDCT: 'INTEGER_FAST' or 'INTEGER_ACCURATE' (tests bound the difference).
    data.jpeg_dct_method = "INTEGER_FAST"
    # tf.data service: '' reads in-process; 'grpc://host:port' of a dispatcher
    # distributes preprocessing to its workers (see input_pipeline/service.py).
    data.service_address = ""
    data.service_processing_mode = "distributed_epoch"
    # 'none' or 'auto' (the service compresses elements on the workers). Elements are uint8
    # windows padded with zeros; bench/README.md has the measurement behind the default.
    data.service_compression = "none"

    # Model (models/). The pipeline ships uint8 windows; the train/eval step cuts, flips and
    # resizes them on the device (input_pipeline/resample.py) into images in stored units
    # (RGB 0..255; flow quantized 0..255, x negated on flip); the model's first layers
    # normalize (backbone RGB preprocessing; flow dequantization and mean subtraction), so a
    # SavedModel takes the stored uint8 format and train/serve skew (the seed's BGR-vs-RGB
    # bug) cannot happen.
    model = config.model = ml_collections.ConfigDict()
    # Flow enters in the backbone's RGB input range: its clip bound maps to the half range of
    # the backbone's input mode (computed by models.normalization.flow_scale).
    model.mean_flow_subtraction = True  # subtract each stack's mean flow (camera motion)
    # 'inception_v3', 'resnet50', 'mobilenet_v2' (Keras applications), 'cnn_m_2048'
    # (Simonyan's temporal net, from scratch) or 'tiny' (CPU demos and tests).
    model.name = "inception_v3"
    # Backbone weights (applications only): 'imagenet' (Keras download, cached in
    # ~/.keras/models), a path to that backbone's weights without top (.h5, .weights.h5,
    # .keras), or '' for random initialisation. Flow backbones get them by cross-modality
    # initialisation (first-conv RGB filters averaged and replicated over 2L channels).
    model.weights = "imagenet"
    model.dropout = 0.8  # before the softmax (and after fc6 in cnn_m_2048)
    model.tiny_widths = (16, 32, 64)  # 'tiny': filters per conv 3x3/2 block

    # Training (training/, train.py). Durations: exactly one of num_steps / num_epochs is > 0
    # (an epoch is one sample per training video); `training.schedules.duration_steps`
    # converts. Learning-rate boundaries are global steps.
    train = config.train = ml_collections.ConfigDict()
    train.batch_size = 32  # global, over all replicas
    train.num_steps = 0
    train.num_epochs = 30.0
    train.optimizer = "sgd"  # 'sgd' (with momentum), 'rmsprop' or 'adam'
    train.momentum = 0.9  # sgd only
    train.weight_decay = 5e-4  # decoupled, applied by the optimizer
    # Learning rates (learning_rate, head_learning_rate) are given for reference_batch_size;
    # a run at another batch_size scales them linearly (lr x batch_size /
    # reference_batch_size, `training.schedules.scaled_learning_rate`), so
    # `--config.train.batch_size=16` on a config made for 256 takes 1/16 of its steps.
    train.reference_batch_size = 32
    train.learning_rate = 1e-3
    # The first warmup_steps updates ramp the lr linearly up to its value (0 = none); with
    # large batches (lr scaled up) a few hundred steps avoid an early divergence.
    train.warmup_steps = 0
    # After each of these global steps, lr *= lr_decay_factor. Boundaries and durations in
    # steps do not follow the batch: a run at a smaller batch sees fewer examples before
    # each drop (keep the examples seen by scaling the steps by reference / batch, or give
    # num_epochs instead of num_steps).
    train.lr_boundaries = ()
    train.lr_decay_factor = 0.1
    # Two-phase fine-tuning (the seed): the head alone for head_only_{steps,epochs} at
    # head_learning_rate (backbone frozen), then the backbone layers after
    # finetune_after_layer ('' = all) with the schedule above. Both 0: one phase, all layers.
    train.head_only_steps = 0
    train.head_only_epochs = 0.0
    train.head_learning_rate = 1e-2
    train.finetune_after_layer = ""
    # TSN's partial batch norm: every batch-norm layer but the first (in the backbone's
    # layer order) runs in inference mode, its statistics and its scale/offset frozen; the
    # first adapts to the new input (flow, or a new image domain). For ImageNet backbones.
    train.partial_bn = False
    train.log_every_steps = 100
    train.checkpoint_every_steps = 1000
    train.max_checkpoints_to_keep = 3
    train.steps_per_loop = 1  # steps per tf.function call (more helps TPUs)
    # 'float32', 'mixed_float16' (GPUs, with loss scaling) or 'mixed_bfloat16' (TPUs).
    train.dtype_policy = "float32"

    config.eval = ml_collections.ConfigDict()
    # Views per eval batch, in whole samples of eval_num_crops views (a video has
    # eval_num_samples x eval_num_crops views; each sample's frames are decoded once).
    config.eval.batch_size = 50
    # `eval.py --watch` (evaluation/watch.py) scores every checkpoint while training runs on
    # a quick protocol: K samples x the centre crop; the full protocol above stays eval.py's.
    config.eval.watch_num_samples = 5
    config.eval.watch_num_crops = 1
    return config
