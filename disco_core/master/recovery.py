"""Outputs that were lost: a task that cannot read some of its inputs, which are outputs of
the previous stage (their node died, or lost its disk), has the tasks that made them run
again, and runs again itself once they are done, reading the new outputs.

A node reports the inputs no replica of which could be read with the task's failure
(``lost``, their URLs). The finished producers of a finished stage are made again, and
those of a stage still feeding a concurrent one (its producers still running are left to
finish: their outputs come as they would). Neither the reader's attempt nor the maker's
rerun counts as a failure of the task; a task whose outputs are lost more than
``max_failures`` times is no longer made again, and the reader's failure then counts as
usual (so outputs that can never be read end the job, naming the task that read them).

These functions are part of :class:`~.coordinator.Job`: it calls them from its stimuli,
and they change only the job and its tasks.
"""
from __future__ import annotations

from typing import Any

from .pipeline import Output


def output_urls(outputs: list[Output]) -> set[str]:
    return {u for out in outputs for u in out.urls}


def recompute_inputs(job: Any, task: Any, host: str, lost: list[str] | tuple) -> bool:
    """``task``'s attempt on ``host`` could not read the inputs ``lost``: if the previous
    stage made them, run the tasks that did again and have ``task`` wait for them (True);
    False when that does not apply and the failure counts as usual."""
    index = task.stage_no
    if index == 0 or not (job.stages[index - 1].finished or job.opened[index]):
        return False
    lost = set(lost)
    makers = [p for p in job.stage_tasks[index - 1]
              if lost & (output_urls(p.outputs) | p.former_urls)]
    if not makers:
        return False
    again = [p for p in makers if p.state == "done" and p.old_outputs is None
             and lost & output_urls(p.outputs)]
    if any(p.remade >= job.max_failures for p in again):
        return False
    job._leave_running(task)
    job._end_attempt(task, "abandoned")
    task.state = "waiting"
    task.bound_host = ""
    for maker in again:
        gone = sorted({h for out in maker.outputs for h in out.hosts()
                       if lost & set(out.urls)})
        job.events.add("master", "WARNING: [%s] cannot read the outputs of %s (on %s): "
                       "running it again" % (task.key, maker.key, ", ".join(gone) or "?"))
        maker.remade += 1
        maker.old_outputs = list(maker.outputs)
        maker.former_urls |= output_urls(maker.outputs)
        maker.failed_hosts = maker.failed_hosts | set(gone)
        maker.state = "waiting"
        maker.bound_host = ""
        job.actions.retry_later(maker, 0.0)
    task.awaiting = {p.id for p in makers if p.old_outputs is not None}
    if task.awaiting:
        job.events.add("master", "[%s] waits for %s to be made again" % (
            task.key, ", ".join(job.tasks[i].key for i in sorted(task.awaiting))))
    else:  # made again already: its inputs name the new outputs
        job.actions.retry_later(task, 0.0)
    return True


def recomputed(job: Any, maker: Any, outputs: list[Output]) -> None:
    """``maker`` made its lost outputs again: the next stage's tasks read the new ones, and
    those that waited for them run again."""
    old, maker.old_outputs = maker.old_outputs or [], None
    maker.state = "done"
    maker.outputs = outputs
    renamed = pair_outputs(old, outputs)
    index = maker.stage_no
    name = job.stages[index].name
    if name in job.stage_results:
        job.stage_results[name] = [o.result_urls() for t in job.stage_tasks[index]
                                   for o in t.outputs]
    for task in job.stage_tasks[index + 1] if index + 1 < len(job.stage_tasks) else []:
        for inp in task.inputs:
            new = next((renamed[u] for u in inp.urls if u in renamed), None)
            if new is not None:
                inp.urls = list(new)
        if maker.id in task.awaiting:
            task.awaiting.discard(maker.id)
            if not task.awaiting and task.state == "waiting":
                job.actions.retry_later(task, 0.0)


def pair_outputs(old: list[Output], new: list[Output]) -> dict[str, list[str]]:
    """Each URL of an old output -> the URLs of the new output in its place (the same kind
    and label, in the order they were given)."""
    def key(out: Output) -> tuple[str, int]:
        return out.kind, out.label if out.kind == "data" else 0
    fresh: dict[tuple[str, int], list[Output]] = {}
    for out in new:
        fresh.setdefault(key(out), []).append(out)
    renamed: dict[str, list[str]] = {}
    for out in old:
        candidates = fresh.get(key(out))
        if candidates:
            replacement = candidates.pop(0)
            for url in out.urls:
                renamed[url] = list(replacement.urls)
    return renamed
