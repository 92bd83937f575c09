"""Job policy 'fair': free worker slots go to the job furthest below its fair share."""

__version__ = "0.6.0"
