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
    data.shuffle_buffer = 1024  # records
    data.deterministic = False  # tf.data determinism (True makes runs repeatable)
    data.num_parallel_reads = 4  # shards read at once (interleave cycle length)
    # Eval views: K samples uniformly spaced over the video x crops (10 = 4 corners +
    # centre, and their mirror images), as Simonyan & Zisserman test.
    data.eval_num_samples = 25
    data.eval_num_crops = 10
    # tf.data service: '' reads in-process; 'grpc://host:port' of a dispatcher
    # distributes preprocessing to its workers (see input_pipeline/service.py).
    data.service_address = ""
    data.service_processing_mode = "distributed_epoch"

    # Model (models/). The pipeline emits images in stored units (RGB 0..255; flow quantized
    # 0..255, x already negated on flip); the model's first layers normalize (backbone RGB
    # preprocessing; flow dequantization and mean subtraction), so a SavedModel takes the
    # stored uint8 format and train/serve skew (the seed's BGR-vs-RGB bug) cannot happen.
    model = config.model = ml_collections.ConfigDict()
    model.mean_flow_subtraction = True  # subtract each stack's mean flow (camera motion)
    return config
