"""Input schemes http:// and https://."""

__version__ = "0.6.0"
