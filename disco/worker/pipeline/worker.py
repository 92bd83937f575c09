"""``disco.worker.pipeline.worker``."""
from disco_core.worker.pipeline import Stage, TaskInfo, Worker, input_hook  # noqa: F401
