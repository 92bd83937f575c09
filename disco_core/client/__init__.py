"""The client: ``Disco`` (REST), ``Job``, ``result_iterator``."""
from .disco import Disco
from .job import Job, SimpleJob
from .results import result_iterator

__all__ = ["Disco", "Job", "SimpleJob", "result_iterator"]
