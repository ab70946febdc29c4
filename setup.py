"""The project's dependencies, whose TensorFlow is an install choice; the rest is pyproject.toml.

TensorFlow comes as two distributions that both provide the `tensorflow` module, so exactly one
is required: `TWO_STREAM_ACCEL=gpu` (what `make setup ACCEL=gpu` sets) requires
`tensorflow[and-cuda]`, which brings its CUDA libraries as wheels; unset or `cpu`, the default,
requires `tensorflow-cpu`. The choice is read whenever the package's metadata is built.

Dataflow's `--setup_file=./setup.py` runs this file to build an sdist, and every worker builds
the sdist again with this file, without the variable: workers always install the CPU
TensorFlow, whatever the submitting machine chose.
"""

import os

import setuptools

ACCEL_VARIABLE = "TWO_STREAM_ACCEL"
TENSORFLOW_VERSION = "2.21.0"
# The accelerator choice -> the TensorFlow distribution it requires.
TENSORFLOW = {
    "cpu": f"tensorflow-cpu=={TENSORFLOW_VERSION}",
    "gpu": f"tensorflow[and-cuda]=={TENSORFLOW_VERSION}",
}
# The known-good set with either TensorFlow (checked together on CPU); see DEVELOPERS.md.
PINS = [
    "keras==3.15.1",
    "tensorboard==2.21.0",
    "apache-beam[tfrecord]==2.77.0",
    "google-crc32c==1.9.0",
    "opencv-contrib-python-headless==5.0.0.93",
    # Ingest decode check: strict=True turns libjpeg warnings into errors (clip_sources).
    "simplejpeg==1.9.0",
    "absl-py==2.5.1",
    "numpy==2.4.6",
    "protobuf==6.33.6",
    "pyarrow==25.0.1",
    "ml-collections==1.1.0",
    "matplotlib==3.11.2",
    "scikit-learn==1.9.1",
    "tqdm==4.70.1",
    # TFDS builders and reader (preprocessing/tfds_builders.py, tfrecords/tfds_schema.py).
    "tensorflow-datasets==4.9.10",
    # Undeclared by tensorflow-datasets 4.9.10: its `tfds` command imports mlcroissant at
    # start-up, and a builder's code path needs importlib_resources.
    "mlcroissant==1.1.1",
    "importlib-resources==7.1.0",
]


def requirements(accel: str) -> list[str]:
    """The dependencies of an install for `accel` ('cpu' or 'gpu').

    Raises:
      SystemExit: an unknown accelerator (the build stops with this one-line message).
    """
    if accel not in TENSORFLOW:
        raise SystemExit(f"{ACCEL_VARIABLE}={accel!r}: use one of {tuple(TENSORFLOW)}")
    return [TENSORFLOW[accel], *PINS]


if __name__ == "__main__":
    setuptools.setup(install_requires=requirements(os.environ.get(ACCEL_VARIABLE, "cpu")))
