"""Library code of train.py: strategy, datasets, loop, checkpoints, summaries."""
