"""The reading side: tf.data pipelines that sample, decode, crop and flip in-graph."""
