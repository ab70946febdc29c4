"""Optical flow: the algorithms by name, and videos turned into the archives' frames and flow.

One home for what the Beam job's videos source (preprocessing/) and prediction
(evaluation/) both compute: `algorithms` (two frames -> flow, by `--flow_algorithm`) and
`video_frames` (a video file -> resized RGB JPEGs and quantized flow JPEGs).

The names and defaults a binary's flags offer are defined here, not in the modules that use
them (which import them from here): this file imports nothing, so a binary defines and
parses its flags before TensorFlow loads (tfrecords/startup.py), and a typo costs no import.
"""

# `--flow_algorithm` by name (optical_flow/algorithms.py: what each is and costs).
FLOW_ALGORITHMS = ("tvl1", "tvl1_opencv", "dis", "farneback")
# The Beam job's `--flow_algorithm` unless told otherwise: the public archives' flow.
DEFAULT_FLOW_ALGORITHM = "tvl1"
