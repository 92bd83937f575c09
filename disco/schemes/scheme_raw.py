"""``disco.schemes.scheme_raw``: ``raw://DATA``, the text after ``raw://`` is the data
(the ``raw`` scheme plugin)."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("raw")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
