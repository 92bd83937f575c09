"""Input scheme redis:// and redis output and intermediate streams."""

__version__ = "0.6.0"
