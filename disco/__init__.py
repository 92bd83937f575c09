"""The original Disco's import paths (``disco.core``, ``disco.util``, ...): re-exports only."""
from disco_core import __version__
from disco_core.jobpack import VERSION1 as JOBPACK_VERSION1
from disco_core.jobpack import VERSION2 as JOBPACK_VERSION2

__all__ = ["__version__", "JOBPACK_VERSION1", "JOBPACK_VERSION2"]
