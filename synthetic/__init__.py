"""Generated demo and test data in the archives' on-disk formats (not part of the Beam job)."""
