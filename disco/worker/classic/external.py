"""``disco.worker.classic.external``."""
from disco_core.worker.external import (ExternalError, ExternalFiles, ExternalProgram,  # noqa: F401
                                        decode_netstring_fd, decode_netstring_str,
                                        encode_netstring_fd, encode_netstring_str,
                                        encode_params, external)
