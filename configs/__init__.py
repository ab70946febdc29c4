"""ml_collections configs: each `get_config()` is a complete, overridable experiment."""
