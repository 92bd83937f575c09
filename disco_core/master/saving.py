"""Where the results of a job submitted with ``save_results`` go.

One storage plugin saves them: the one whose ``disco_results_storage`` answers for the job's
``save_info``, asked when the job is submitted (:func:`storage_for`). It saves them in one
or both of two places: on the nodes, each task of the last stage as it ends
(``disco_save_outputs``; the master tells the node by putting ``save_info`` in the task's
message), and on the master, once the last stage has finished (``disco_save_results``,
:func:`save_results`), when the storage keeps a record of a job's results (DDFS's tag
``disco:results:<job>``). A job no plugin answers for keeps its results on the nodes, and
its events say so.
"""
from __future__ import annotations

from typing import Any

from ..plugins import install_hint


def save_info_of(jobdict: dict) -> str:
    return jobdict.get("save_info", "ddfs")


def storage_for(plugins: Any, jobdict: dict, events: Any) -> str | None:
    """The storage that saves the results of a job with ``jobdict``, or None: the job does
    not save them, or no plugin answers for its ``save_info`` (its events say so)."""
    if not jobdict.get("save_results"):
        return None
    save_info = save_info_of(jobdict)
    answers = [a for a in plugins.call("disco_results_storage", save_info=save_info) if a]
    if answers:
        return str(answers[0])
    storage = save_info.split(",", 1)[0]
    events.add("master", "WARNING: save_results is ignored: no storage plugin is "
               "installed for save_info %r (none implements disco_results_storage "
               "for it: pip install %s); the results stay on the nodes"
               % (save_info, install_hint("storage", storage)))
    return None


async def save_results(plugins: Any, job: Any) -> str | None:
    """Have the storage plugins record a finished job's results (``disco_save_results``).
    The first list a plugin returns becomes the job's results; when none returns one, they
    stay as the last stage left them (saved by the nodes already). Returns why they could
    not be saved when none returned one and a plugin failed (each failure is in the job's
    events), else None."""
    errors: list[str] = []

    def on_error(plugin: str, what: str, exc: BaseException) -> None:
        errors.append("plugin %s failed in %s: %s: %s" % (plugin, what, type(exc).__name__, exc))
    saved = [r for r in await plugins.acall(
        "disco_save_results", on_error=on_error, jobname=job.name, results=job.results,
        save_info=save_info_of(job.jobdict)) if isinstance(r, list)]
    for error in errors:
        job.events.add("master", "WARNING: %s" % error)
    if saved:
        job.results = saved[0]
        job.events.add("master", "Results saved: %s" % " ".join(
            u for urls in saved[0] for u in (urls if isinstance(urls, list) else [urls])))
    elif errors:
        return "its results could not be saved: %s" % "; ".join(errors)
    return None
