"""Library code of eval.py: video-level scores, metrics, fusion, reports, export."""
