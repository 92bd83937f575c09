"""The DDFS plugin's hooks: settings, the master's and the nodes' routes, the tag browser's
link, the nodes' PUT servers, saving job results, and the ``ddfs`` subcommands. Cheap to
import: the work is in the modules each hook imports when it is called."""
from __future__ import annotations

from typing import Any

from disco_core.hookspecs import hookimpl

#: The DDFS state of the master in this process (set when its routes are built).
_master: dict[str, Any] = {}


@hookimpl
def disco_settings() -> dict[str, Any]:
    from .defaults import CLIENT, NODE
    from .gc import settings_defaults
    return {**CLIENT, **NODE, **settings_defaults()}


@hookimpl
def disco_master_routes(master: Any) -> list[tuple]:
    from .master import master_routes
    from .webui import webui_routes
    routes = master_routes(master)
    _master["ddfs"] = master.ddfs
    return routes + webui_routes(master.ddfs)


@hookimpl
def disco_webui_links(master: Any) -> list[dict[str, str]]:
    """The tag browser and the GC panel."""
    from .webui import links
    return links() + [{"title": "ddfs gc", "url": "/ddfs/gc"}]


@hookimpl
def disco_openapi_paths(master: Any) -> dict[str, Any]:
    from .openapi import paths
    from .webui import openapi_paths
    return {**paths(), **openapi_paths()}


@hookimpl
def disco_master_started(master: Any) -> None:
    ddfs = _master.get("ddfs")
    if ddfs is not None:
        import asyncio
        ddfs.space_watcher = asyncio.ensure_future(ddfs.watch_space())
        ddfs.gc_tasks = [asyncio.ensure_future(ddfs.upkeep.run_forever()),
                         asyncio.ensure_future(ddfs.upkeep.watch_nodes())]
        ddfs.tag_watcher = asyncio.ensure_future(ddfs.tag_replicas.watch())


@hookimpl
def disco_node_info(host: str) -> dict[str, Any] | None:
    ddfs = _master.get("ddfs")
    space = ddfs.space.get(host) if ddfs is not None else None
    if space is None:
        return None
    info = {"diskfree": space[0] // 1024, "diskused": space[1] // 1024}
    if ddfs.bad_volumes(host):
        info["bad_volumes"] = ddfs.bad_volumes(host)
    # the node beside the master serves its blobs on this loopback port, behind the
    # master: a reader on this machine reads them there (:mod:`.reading`)
    port = getattr(ddfs.master.nodes.connections.get(host), "data_port", None)
    if isinstance(port, int):
        info["data_port"] = port
    return info


@hookimpl
def disco_safe_to_remove(master: Any, hosts: list[str]) -> list[str] | None:
    ddfs = _master.get("ddfs")
    if ddfs is None:
        return None
    safe = set(ddfs.upkeep.safe_gc_blacklist())
    return [h for h in hosts if h in safe]


@hookimpl
def disco_node_routes(node: Any) -> list[tuple]:
    from .node import node_routes
    return node_routes(node)


@hookimpl
def disco_node_started(node: Any) -> None:
    from .node import start_put_server
    node.ddfs_put_server = start_put_server(node)


def _ours(save_info: str) -> bool:
    # the original's only form for DDFS; "ddfs,..." names nothing DDFS knows
    return save_info == "ddfs"


@hookimpl
def disco_results_storage(save_info: str) -> str | None:
    return "ddfs" if _ours(save_info) else None


@hookimpl
async def disco_save_results(jobname: str, results: list, save_info: str) -> list | None:
    if not _ours(save_info) or "ddfs" not in _master:
        return None
    from .results import save_results
    return await save_results(_master["ddfs"], jobname, results)


@hookimpl
def disco_cli_commands() -> list[Any]:
    from .cli import disco_command
    return [disco_command()]


@hookimpl
async def disco_oob_stored(jobname: str, key: str, path: str) -> None:
    if "ddfs" in _master:
        from .oob import store_oob
        await store_oob(_master["ddfs"], jobname, key, path)


@hookimpl
async def disco_job_purged(jobname: str) -> None:
    if "ddfs" in _master:
        from .oob import purge_oob
        await purge_oob(_master["ddfs"], jobname)
