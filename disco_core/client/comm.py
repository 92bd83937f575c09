"""The HTTP helpers' former home: they live in :mod:`disco_core.comm`, below the client and
the node, and are re-exported here for code that imports them from the client."""
from ..comm import (CHUNK, RETRIES, TIMEOUT, Connection, auth_header, download,  # noqa: F401
                    fetch, host_is_up, open_data, open_http, open_local, open_remote, open_url,
                    range_header, request, upload, ResumingStream)
