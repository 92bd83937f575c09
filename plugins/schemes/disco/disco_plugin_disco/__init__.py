"""Input schemes disco:// and dir://: job data served by nodes, local files read directly."""

__version__ = "0.6.0"
