"""``disco.fileutils``."""
from disco_core.fileutils import (CHUNK_SIZE, HUNK_SIZE, MAX_RECORD_SIZE, MB,  # noqa: F401
                                  MIN_DISK_SPACE, AtomicFile, Chunker, DiscoOutput,
                                  DiscoOutputStream, DiscoOutputStream_v0, DiscoOutputStream_v1,
                                  DiscoZipFile, NonBlockingInput, Wait, ensure_free_space,
                                  ensure_path, files, get_valid_path)
