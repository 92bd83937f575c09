"""``disco.worker.classic``."""
