"""Loading a job's functions in a task (``disco_core.worker.load_job``): a job whose functions
cannot load anywhere is fatal for the job; a node short of memory is not (the task is
retried)."""
import pytest

from disco_core.worker import load_job
from disco_core.errors import FatalError
from disco_core.jobpack import JobPack
from disco_core.worker.task import jobdata


def _raise(exc):
    raise exc


class Unloadable:
    """Unpickling it raises what it was made with."""

    def __init__(self, exc):
        self.exc = exc

    def __reduce__(self):
        return (_raise, (self.exc,))


def jobfile(tmp_path, obj):
    pack = JobPack(1, {"prefix": "Load", "worker": "worker", "owner": "tests@localhost",
                       "scheduler": {}}, {}, b"", jobdata(obj, {}))
    path = tmp_path / "jobfile"
    path.write_bytes(pack.dumps())
    return str(path)


def test_a_job_whose_functions_do_not_load_is_fatal(tmp_path):
    with pytest.raises(FatalError, match="cannot load the job's functions"):
        load_job(jobfile(tmp_path, Unloadable(ImportError("no module named nowhere"))))


def test_memory_short_while_loading_is_an_error_to_retry_not_fatal(tmp_path):
    with pytest.raises(MemoryError):
        load_job(jobfile(tmp_path, Unloadable(MemoryError())))
