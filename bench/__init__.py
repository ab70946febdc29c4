"""Benchmark programs that print measured figures (never timed tests)."""
