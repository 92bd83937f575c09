"""``disco.sysutil``."""
from disco_core.sysutil import available_memory, parse_mem_limit, set_mem_limit

__all__ = ["available_memory", "parse_mem_limit", "set_mem_limit"]
