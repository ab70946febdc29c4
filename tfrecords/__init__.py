"""The record schema: the one contract the writer and the reader share.

The names the binaries check or offer before TensorFlow loads are defined here (this file imports
nothing; tfrecords/startup.py says why) and imported from here by the modules that own them.
"""

# The data directory's manifest (tfrecords/manifest.py): written last by the Beam job.
MANIFEST_FILE = "manifest.json"
# What TFDS writes in a built config's folder (tfrecords/tfds_schema.py): a TFDS data directory.
DATASET_INFO_FILE = "dataset_info.json"
# How the records are serialized (`Manifest.record_format`, `python -m preprocessing --format`):
# this project's SequenceExamples (tfrecords/schema.py), or TFDS's Examples
# (tfrecords/tfds_schema.py), one modality per folder.
SEQUENCE_EXAMPLE_FORMAT = "sequence_example"
TFDS_FORMAT = "tfds"
FORMATS = (SEQUENCE_EXAMPLE_FORMAT, TFDS_FORMAT)
