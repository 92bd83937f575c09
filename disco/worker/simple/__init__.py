"""``disco.worker.simple``."""
from disco_core.worker.simple import Output, Worker  # noqa: F401
