"""``disco.comm``: ``download``, ``upload``, ``open_url``, ``open_local``, ``open_remote``
(``Connection`` objects) and ``request``, on the shared HTTP client."""
from disco_core.comm import RETRIES, Connection, auth_header, open_local  # noqa: F401
from disco_core.comm import fetch as download  # noqa: F401
from disco_core.comm import open_data as open_url  # noqa: F401
from disco_core.comm import open_http as open_remote  # noqa: F401
from disco_core.comm import range_header, request, upload  # noqa: F401
from disco_core.errors import CommError  # noqa: F401
