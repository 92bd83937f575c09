"""``disco.schemes``: input schemes as modules ``disco.schemes.scheme_<name>``, each backed
by its scheme plugin (see :mod:`disco_core.worker.schemes`)."""
from disco_core.worker.schemes import import_scheme, input_stream, open, open_chain  # noqa: A001

__all__ = ["import_scheme", "input_stream", "open", "open_chain"]
