"""Input scheme discodb:// and the discodb output stream, on pydiscodb."""

__version__ = "0.6.0"
