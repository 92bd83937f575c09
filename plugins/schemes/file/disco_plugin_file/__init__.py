"""Input scheme file:// and scheme-less paths: files on the node."""

__version__ = "0.6.0"
