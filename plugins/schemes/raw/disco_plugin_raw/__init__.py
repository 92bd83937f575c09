"""Input schemes raw:// (the text after raw:// is the data) and url:// (the URL itself)."""

__version__ = "0.6.0"
