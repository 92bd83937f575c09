"""Input scheme hdfs:// and job results saved to HDFS, over WebHDFS."""

__version__ = "0.6.0"
