"""``disco.worker``."""
from disco_core.worker import Params, Worker, active_task  # noqa: F401
