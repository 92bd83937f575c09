"""``disco.schemes.scheme_http``: ``http://`` inputs, through the ``http`` scheme plugin."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("http")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
