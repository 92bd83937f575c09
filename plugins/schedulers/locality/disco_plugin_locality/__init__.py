"""Task placement 'locality': run tasks on the node that holds their data."""

__version__ = "0.6.0"
