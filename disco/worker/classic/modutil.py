"""``disco.worker.classic.modutil``."""
from disco_core.worker.modutil import *  # noqa: F401,F403
