"""``disco.task``: the running task's description and the job data pickler."""
from disco_core.worker.task import Group, Task, TaskOutput, jobdata

__all__ = ["Task", "jobdata", "Group", "TaskOutput"]
