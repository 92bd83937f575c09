"""``disco.error``."""
from disco_core.errors import CommError, DataError, DiscoError, JobError

__all__ = ["DiscoError", "JobError", "DataError", "CommError"]
