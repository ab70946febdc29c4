"""The record schema: the one contract the writer and the reader share."""
