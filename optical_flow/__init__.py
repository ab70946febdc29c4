"""Optical flow: the algorithms by name, and videos turned into the archives' frames and flow.

One home for what the Beam job's videos source (preprocessing/) and prediction
(evaluation/) both compute: `algorithms` (two frames -> flow, by `--flow_algorithm`) and
`video_frames` (a video file -> resized RGB JPEGs and quantized flow JPEGs).
"""
