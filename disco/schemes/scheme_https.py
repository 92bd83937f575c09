"""``disco.schemes.scheme_https``: ``https://`` inputs, through the ``https`` scheme plugin."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("https")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
