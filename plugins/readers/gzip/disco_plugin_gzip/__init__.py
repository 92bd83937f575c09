"""Readers 'gzip' and 'gzip_bytes': lines of gzip-compressed inputs, as str or bytes."""

__version__ = "0.6.0"
