"""``disco.worker.classic.modutil`` (the same as ``disco.worker.modutil``)."""
from disco.worker.modutil import (ModUtilImportError, find_modules,  # noqa: F401
                                  locate_modules, parse_function)
