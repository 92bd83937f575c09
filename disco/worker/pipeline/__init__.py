"""``disco.worker.pipeline``."""
