"""``disco.schemes.scheme_file``: ``file://PATH`` and plain paths, files on the node that
runs the task, through the ``file`` scheme plugin."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("file")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
