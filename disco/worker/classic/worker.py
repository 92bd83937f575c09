"""``disco.worker.classic.worker``."""
from disco_core.worker import Params  # noqa: F401
from disco_core.worker.classic import Worker  # noqa: F401
