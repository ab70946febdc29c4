"""Keras models of the spatial and temporal streams; `build_model` is the entry point."""

from models.builder import build_model

__all__ = ["build_model"]
