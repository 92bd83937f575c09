"""``disco.compat``: the original's Python 2/3 names (:mod:`disco_core.compat`)."""
from disco_core.compat import *  # noqa: F401,F403
from disco_core.compat import __all__  # noqa: F401
