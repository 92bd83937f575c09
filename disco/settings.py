"""``disco.settings``."""
from disco_core.settings import DiscoSettings

__all__ = ["DiscoSettings"]
