"""``disco.worker.classic.netstring``: the encoding of external programs' parameters."""
from disco_core.worker.external import (decode_netstring_fd, decode_netstring_str,  # noqa: F401
                                        encode_netstring_fd, encode_netstring_str)
