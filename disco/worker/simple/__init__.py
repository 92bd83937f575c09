"""``disco.worker.simple``."""
from disco_core.worker.simple import Output, TaskInput, Worker  # noqa: F401
