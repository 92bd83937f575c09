"""``disco.schemes.scheme_disco``: ``disco://HOST/PATH``, job data a node serves (read
as a local file when HOST is this node), through the ``disco`` scheme plugin."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("disco")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
