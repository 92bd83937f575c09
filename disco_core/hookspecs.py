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
def disco_webui_links(master: Any) -> list[dict[str, str]]:
    """Pages of the plugin's own (served through ``disco_master_routes``) that the web UI
    links from every page's navigation: ``[{"title": "metrics", "url": "/metrics/"}, ...]``.
    Called each time a page's view is built, so it must be cheap; entries that are not such
    dicts are ignored."""


@hookspec
def disco_safe_to_remove(master: Any, hosts: list[str]) -> list[str] | None:
    """Of ``hosts`` (the gc blacklist), those whose stored data all has copies on other
    nodes, so they can leave the cluster with nothing lost: the configure page marks them
    safe to remove. A storage plugin answers from what it holds in memory (it is called on
    each view of the page); ``None`` when it keeps nothing on nodes."""


@hookspec
def disco_openapi_paths(master: Any) -> dict[str, Any]:
    """The OpenAPI ``paths`` of the plugin's master routes (``{"/x/{name}": {"get": {...}}}``),
    merged into the master's document at ``/disco/openapi.json``."""


@hookspec
def disco_node_routes(node: Any) -> list[tuple]:
    """Extra Tornado rules for a node's data server. Called once per node at start. Every
    node serves them on ``HOST:DISCO_PORT`` (the one beside the master through the master).
    A plugin keeping data on the nodes serves it with
    :func:`disco_core.dataserver.data_route` (``/PREFIX/<path>`` from a directory). A
    route takes a request body whole up to ``dataserver.MAX_BODY`` (64 KiB); one taking
    more streams it (``@stream_request_body``) and sets its own limit as it prepares."""


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
def disco_results_storage(save_info: str) -> str | None:
    """The name of this plugin's storage when it saves the results of jobs submitted with
    ``save_results`` and this ``save_info`` (``"ddfs"``, ``"hdfs,namenode:port,user,/dir/"``:
    its first field names the storage), else None. Called by the master when such a job is
    submitted; the first name answered is the job's storage. When no plugin answers, the
    job's events say its results stay on the nodes, and neither hook below is called for
    it. The plugin that answers saves them with one or both of: ``disco_save_outputs``, on
    the nodes, as each task of the last stage ends (the data goes from where it is), and
    ``disco_save_results``, on the master, once the last stage has finished (a record of
    the job's results, as DDFS's tag ``disco:results:<job>``)."""


@hookspec(firstresult=True)
def disco_save_outputs(save_info: str, jobname: str, stage: str, taskid: int, runid: int,
                       outputs: list) -> list | None:
    """Save the outputs of a task of a job's last stage, for a job whose storage (see
    ``disco_results_storage``) is this plugin's.

    Called by the node that ran the task, when the worker says DONE, with the task's local
    outputs as ``[(label, path, size), ...]`` (absolute paths of files in the internal
    record format). A plugin that saves results where ``save_info`` names (its first
    field says which storage) uploads them and returns ``[(label, url, size), ...]``: the
    task's outputs become those URLs, which are the job's results. Others return None, and
    so may the job's storage when it saves on the master only.

    Called in a thread of the node, so an implementation may block (it may also be
    ``async``). It is not guarded: what it raises fails the task, a
    :class:`~disco_core.errors.DataError` (an upload that failed) as an error the task is
    retried for, anything else (a ``save_info`` it cannot use) as fatal for the job."""


@hookspec
def disco_save_results(jobname: str, results: list, save_info: str) -> list | None:
    """A job whose storage (see ``disco_results_storage``) is this plugin's finished its last
    stage: record its results (``results``, one list of replica URLs per result, as the
    nodes left them: local, or saved by ``disco_save_outputs``) in the storage ``save_info``
    names and return what the job's results become (the original:
    ``["tag://disco:results:<jobname>"]``), or ``None`` to leave them as they are (a
    storage that saved them on the nodes, or another plugin's ``save_info``). May be async
    (and should be when it copies data). Called by the master, which keeps the job active
    until every implementation returned, so no client sees unsaved results; the first list
    returned wins. When none returns a list and one raised, the job fails, its events
    saying why."""


@hookspec
def disco_job_finished(jobname: str, status: str, results: list) -> None:
    """A job reached ``ready`` or ``dead`` (master side). May be async."""


@hookspec
def disco_oob_stored(jobname: str, key: str, path: str) -> None:
    """A task of job ``jobname`` stored the out-of-band value ``key`` on the master, in the
    file ``path`` (which stays where it is: ``oob_get`` and ``oob_list`` read the master's
    store). A storage plugin may keep a copy of its own (DDFS: a blob in the job's tag
    ``disco:job:oob:<job>``). Called on the master's IOLoop once the value is in place, so
    it must not block; may be async. A newer value of the same key replaces the file."""


@hookspec
def disco_job_purged(jobname: str) -> None:
    """A job was purged (its data deleted on the master and the nodes): a plugin deletes
    what it keeps for the job (DDFS: its OOB tag). Master side; may be async."""
