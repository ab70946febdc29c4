"""Keras models of the spatial and temporal streams."""
