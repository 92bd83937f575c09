"""``disco.func`` (same as ``disco.worker.classic.func``)."""
from disco_core.worker.func import *  # noqa: F401,F403
