"""Disco in Python: the core (plugin host, master, node, worker, client)."""

__version__ = "0.6.0"
PROTOCOL_VERSION = "1.1"
