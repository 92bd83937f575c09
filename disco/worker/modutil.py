"""``disco.worker.modutil``."""
from disco_core.worker.modutil import (ModUtilImportError, find_modules,  # noqa: F401
                                       locate_modules, parse_function)
