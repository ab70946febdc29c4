"""Library code of eval.py and export.py: video-level scores, metrics, fusion, reports, export."""
