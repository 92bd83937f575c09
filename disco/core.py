"""``from disco.core import Job, result_iterator``."""
from disco_core import __version__
from disco_core.client import Disco, Job, result_iterator
from disco_core.client.disco import Stats
from disco_core.client.job import JobChain
from disco_core.errors import DiscoError, JobError
from disco_core.worker import Params


def client_version() -> str:
    return __version__


__all__ = ["Disco", "Job", "JobChain", "result_iterator", "Params", "Stats", "DiscoError",
           "JobError", "client_version"]
