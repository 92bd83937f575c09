"""``disco.schemes.scheme_url``: ``url://...``, the URL string itself is the data (the
``url`` scheme plugin, beside ``raw`` in disco-plugin-raw)."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("url")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
