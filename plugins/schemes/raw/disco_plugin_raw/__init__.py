"""Input scheme raw://: the URL's text is the data."""

__version__ = "0.6.0"
