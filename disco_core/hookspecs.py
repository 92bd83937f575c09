"""Every hook a plugin may implement, in one place.

Plugins declare a module of ``@hookimpl`` functions under the entry-point group ``disco``
(see :mod:`disco_core.plugins`). Hooks are for cross-cutting behaviour; named
implementations (schemes, readers, writers, scheduler policies, volumes) are drivers in
their own entry-point groups, loaded lazily by name, and the ``disco_register_*`` hooks
below add drivers at run time without packaging (a scheme defined in a test or a script).

Hooks that a Tornado process calls may be ``async``: call sites await whatever a hook
returns when it is awaitable (or schedule it on the loop and report its error), so a hook
never blocks the IOLoop. Every call site is guarded (:meth:`disco_core.plugins.PluginHost.call`):
an implementation that raises is logged under its plugin's name, listed by ``disco
plugins``, and the call goes on with the other plugins.
"""
from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "disco"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def disco_settings() -> dict[str, Any]:
    """Settings a plugin adds, as ``{NAME: default}``; a default may be a callable taking the
    settings object. Called once when the plugin manager is built, in every process.
    Core's own names cannot be redefined."""


@hookspec
def disco_register_schemes() -> dict[str, Any]:
    """Input schemes defined in process, as ``{scheme: driver}``; they win over entry points
    of the same name. A driver has ``open(url, task=None) -> binary file object`` and may
    have ``expand(url, label, task=None) -> [url or [replica, ...], ...]``: with
    ``read_index`` too it is an index scheme (``dir``), read by the tasks; without, its URL
    stands for other inputs (a storage plugin's ``tag``), which the master puts in its place
    when a job is submitted, one input per item."""


@hookspec
def disco_register_readers() -> dict[str, Any]:
    """Readers defined in process, as ``{name: reader}``; a reader is
    ``reader(fd, size, url, params) -> iterable of records``."""


@hookspec
def disco_register_writers() -> dict[str, Any]:
    """Writers defined in process, as ``{name: writer}``; a writer is
    ``writer(fd, label, url, params) -> object with add(key, value) and close()``."""


@hookspec
def disco_register_schedulers() -> dict[str, Any]:
    """Scheduler policies defined in process, as ``{name: policy class}``."""


@hookspec
def disco_master_routes(master: Any) -> list[tuple]:
    """Extra Tornado rules ``(pattern, handler, kwargs)`` for the master's web server.
    Called once by the master while it builds its application; ``master`` is the
    :class:`disco_core.master.app.Master`."""


@hookspec
def disco_node_routes(node: Any) -> list[tuple]:
    """Extra Tornado rules for a node's data server. Called once per node at start. Every
    node serves them on ``HOST:DISCO_PORT`` (the one beside the master through the master).
    A plugin keeping data on the nodes serves it with
    :func:`disco_core.dataserver.data_route` (``/PREFIX/<path>`` from a directory)."""


@hookspec
def disco_master_started(master: Any) -> None:
    """The master is serving. May be async."""


@hookspec
def disco_node_started(node: Any) -> None:
    """A node (:class:`disco_core.node.app.Node`) is serving its routes and is about to
    connect to its master. A plugin that serves more than routes on a node (a port of its
    own) starts it here. May be async. Called once per node process."""


@hookspec
def disco_node_info(host: str) -> dict[str, Any] | None:
    """Fields a plugin adds to a node's entry in ``/disco/ctrl/nodeinfo`` (the original
    showed DDFS's ``diskfree`` and ``diskused`` there), as a dict, or ``None``. Called by
    the master for each node on every nodeinfo request: it must be cheap and must not
    block (answer from what the plugin already knows). Core's own fields win."""


@hookspec
def disco_cli_commands() -> list[Any]:
    """Subcommands for the ``disco`` command line, as :class:`disco_core.cli.Command`
    objects. Called each time the CLI starts; keep the hook module cheap to import."""


@hookspec
def disco_job_event(jobname: str, host: str, message: str, timestamp: str) -> None:
    """A line was appended to a job's event log (master side). Must be cheap and must not
    block: it runs on the master's IOLoop for every event."""


@hookspec
def disco_results_storage() -> str:
    """The name of the storage this plugin saves job results in, for jobs submitted with
    ``save_results`` (the original saved them as a tag). Called by the master for each such
    job; when no plugin answers, the job's events say its results stay on the nodes. The
    plugin saves them from its ``disco_save_results``."""


@hookspec
def disco_save_results(jobname: str, results: list, save_info: str) -> list | None:
    """A job submitted with ``save_results`` finished its last stage: store its results
    (``results``, one list of replica URLs per result) in the storage ``save_info`` names
    (the job's ``save_info``, ``"ddfs"`` unless the job said otherwise) and return what the
    job's results become (the original: ``["tag://disco:results:<jobname>"]``), or ``None``
    when ``save_info`` names another plugin's storage. May be async (and should be: it
    copies data). Called by the master, which keeps the job active until it returns, so no
    client sees the unsaved results; the first list returned wins. When no implementation
    returns a list (or one raises), the job fails with its events saying why."""


@hookspec
def disco_job_finished(jobname: str, status: str, results: list) -> None:
    """A job reached ``ready`` or ``dead`` (master side). May be async."""
