"""``disco.schemes.scheme_discodb``: ``discodb://HOST/PATH[!METHOD[/ARG]]`` inputs (the keys,
values, items or query results of a DiscoDB file), the output stream ``discodb_output``
(``discodb_stream`` with ``task_output_stream`` before it) and ``inputs(results)`` (the
discodb:// URLs of a job's DiscoDB results), through the ``discodb`` scheme plugin
(``pip install disco-plugin-discodb``)."""
from disco_core.worker.schemes import SchemeModule
from disco_core.worker.task_io import task_output_stream

_scheme = SchemeModule("discodb")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
discodb_output = _scheme.function("discodb_output")
inputs = _scheme.function("inputs")
discodb_stream = (task_output_stream, discodb_output)
