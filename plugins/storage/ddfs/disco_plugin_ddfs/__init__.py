"""DDFS, the Disco Distributed Filesystem: tags on the master, blobs on the nodes."""

__version__ = "0.6.0"
