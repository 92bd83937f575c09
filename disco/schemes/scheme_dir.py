"""``disco.schemes.scheme_dir``: ``dir://HOST/PATH`` index files (lines ``<label> <url>
<size>``) naming record files, through the ``dir`` scheme plugin. ``input_stream`` gives
the records of the listed files of the running task's label (see
:class:`disco_core.worker.schemes.DirSchemeModule`); ``read_index`` and ``expand`` read
the index."""
from disco_core.worker.schemes import DirSchemeModule

_scheme = DirSchemeModule("dir")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
read_index = _scheme.read_index
expand = _scheme.expand
