"""The writing side: UCF-101 on disk (lists, frames, flow, videos) -> sharded TFRecords.

The names and defaults a binary's flags offer are defined here, not in the modules that use
them (which import them from here): this file imports nothing, so `python -m preprocessing`
defines and parses its flags and checks its paths before TensorFlow and Beam load
(tfrecords/startup.py), and a typo costs no import.
"""

# The datasets' folders under ROOT (preprocessing/ucf101.py, preprocessing/hmdb51.py).
UCF101_SPLITS_DIR = "ucfTrainTestlist"  # the official split files
UCF101_VIDEOS_DIR = "UCF-101"  # the videos, `<Class>/v_<Class>_gGG_cCC.avi`
HMDB51_SPLITS_DIR = "testTrainMulti_7030_splits"
HMDB51_VIDEOS_DIR = "hmdb51"
# `--dataset` by name (preprocessing/datasets.py) -> its folders relative to ROOT: (split
# files, None for a dataset without them; videos, '' = ROOT itself).
DATASET_FOLDERS = {
    "ucf101": (UCF101_SPLITS_DIR, UCF101_VIDEOS_DIR),
    "hmdb51": (HMDB51_SPLITS_DIR, HMDB51_VIDEOS_DIR),
    "folder": (None, ""),
}
DATASETS = tuple(DATASET_FOLDERS)
DEFAULT_DATASET = "ucf101"
# The frame archives' folders under ROOT, for every dataset (preprocessing/layout.py).
FRAMES_DIR = "jpegs_256"
FLOW_DIR = "tvl1_flow"
# `--source`: the archives' frames, or videos decoded with flow computed (clip_sources.py).
SOURCES = ("frames", "videos")
# The folder dataset's hash split: fraction of each class's videos in test (folder.py).
DEFAULT_TEST_FRACTION = 0.3
# `--rgb_chunks`: RGB records per train video (job_config.py).
DEFAULT_RGB_CHUNKS = 8
# `--subsets`: the subsets the job writes by default (the official lists' two).
DEFAULT_SUBSETS = ("train", "test")
# `--shard_size_mb`: target shard size in MB (10^6 bytes) without `--num_shards`.
DEFAULT_SHARD_SIZE_MB = 150.0
