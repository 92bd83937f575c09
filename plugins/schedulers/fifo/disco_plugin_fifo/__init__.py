"""Job policy 'fifo': free worker slots go to the oldest job with work."""

__version__ = "0.6.0"
