"""Reader and writer 'netstring': the original's length-prefixed key/value format."""

__version__ = "0.6.0"
