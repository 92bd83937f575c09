"""``disco.job``: Job and JobPack."""
from disco_core.client.job import Job, JobChain, SimpleJob
from disco_core.jobpack import VERSION1 as JOBPACK_VERSION1
from disco_core.jobpack import VERSION2 as JOBPACK_VERSION2
from disco_core.jobpack import JobPack

__all__ = ["Job", "JobChain", "SimpleJob", "JobPack", "JOBPACK_VERSION1", "JOBPACK_VERSION2"]
