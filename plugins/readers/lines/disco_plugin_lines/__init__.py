"""Reader 'lines': text inputs as str lines."""

__version__ = "0.6.0"
