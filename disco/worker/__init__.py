"""``disco.worker``: the base Worker and its helpers."""
from disco_core.worker import (  # noqa: F401
    BaseOutput, IDedInput, Input, MergedInput, Output, ParallelInput, Params, ReplicaIter,
    SerialInput, Worker, active_task)
