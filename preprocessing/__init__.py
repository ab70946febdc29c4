"""The writing side: UCF-101 on disk (lists, frames, flow, videos) -> sharded TFRecords."""
