"""``disco.schemes.scheme_redis``: ``redis://HOST:PORT:DB`` inputs (every list of the
database, as ``(key, value)`` records), the output stream ``redis_output_stream`` (a task's
records pushed onto lists of the database ``params['url']`` names) and the intermediate
streams ``redis_inter_stream_out`` / ``redis_inter_stream_in``, through the ``redis`` scheme
plugin (``pip install disco-plugin-redis``)."""
from disco_core.worker.schemes import SchemeModule

_scheme = SchemeModule("redis")
open = _scheme.open  # noqa: A001
input_stream = _scheme.input_stream
redis_output_stream = _scheme.function("redis_output_stream")
redis_inter_stream_out = _scheme.function("redis_inter_stream_out")
redis_inter_stream_in = _scheme.function("redis_inter_stream_in")
