"""The master's web UI: the status, job and configure pages, and the live feed they read.

The pages are static files shipped in this package (``static/``: HTML, CSS and plain
JavaScript, nothing from a CDN). Everything they show comes from the REST API, and while a
page is open from :class:`FeedHandler`: a server-sent event stream that pushes a new
snapshot of what the page shows whenever it changes (the original's pages polled every 10 s).

Plugins add pages and panels with the ``disco_master_routes`` hook and link them into every
page's navigation with ``disco_webui_links``; core names no plugin.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

import tornado.iostream
import tornado.web

from .. import openapi
from ..timeline import timeline

log = logging.getLogger("disco.master.webui")
STATIC = os.path.join(os.path.dirname(__file__), "static")
PAGES = {"": "index.html", "index.html": "index.html", "job.html": "job.html",
         "config.html": "config.html"}
#: Seconds between two looks at what a feed shows (a snapshot is sent only if it changed).
FEED_INTERVAL = 0.5
#: Seconds between keep-alive comments on a feed that has nothing new.
FEED_KEEPALIVE = 15.0
#: The most jobs the status feed carries (newest first); the page says how many there are.
FEED_JOBS = 1000
#: The most input and result URLs the job page lists (it says how many there are).
SHOWN_URLS = 100
#: The most events the job page shows (the newest).
SHOWN_EVENTS = 100
#: Seconds a job feed reuses the events it filtered (a filter reads the whole event file).
FILTER_EVERY = 2.0
#: The most attempts the job page's timeline draws (the newest).
TIMELINE_ATTEMPTS = 5000
#: Settings whose values the configure page does not show.
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD")


class PageHandler(tornado.web.RequestHandler):
    """``/``, ``/index.html``, ``/job.html``, ``/config.html``: the pages themselves."""

    def initialize(self, master: Any) -> None:
        self.master = master

    def get(self, page: str = "") -> None:
        name = PAGES.get(page)
        if name is None:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        with open(os.path.join(STATIC, name), "rb") as f:
            self.finish(f.read())


class UIHandler(tornado.web.RequestHandler):
    def initialize(self, master: Any) -> None:
        self.master = master

    def reply(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = self._reason
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(message))

    def job(self) -> Any:
        name = self.get_query_argument("name", "")
        try:
            return self.master.get_job(name)
        except KeyError:
            raise tornado.web.HTTPError(404, "unknown job %r" % name) from None


def links(master: Any) -> list[dict[str, str]]:
    """The pages plugins link into the navigation: ``[{"title", "url"}, ...]``."""
    out = []
    for _plugin, result in master.plugins.each("disco_webui_links", master=master):
        for entry in result or []:
            if isinstance(entry, dict) and isinstance(entry.get("title"), str) \
                    and isinstance(entry.get("url"), str):
                out.append({"title": entry["title"], "url": entry["url"]})
    return out


def safe_to_remove(master: Any) -> list[str]:
    """The gc-blacklisted hosts every storage plugin that answers says can be removed with
    nothing lost (``disco_safe_to_remove``); none when no plugin answers."""
    hosts = sorted(master.nodes.gc_blacklist)
    answers = [set(result) for _plugin, result in master.plugins.each(
        "disco_safe_to_remove", master=master, hosts=hosts) if isinstance(result, list)]
    if not hosts or not answers:
        return []
    return sorted(set(hosts).intersection(*answers))


def settings_in_force(master: Any) -> dict[str, Any]:
    """Every setting the master runs with, secrets left out."""
    out = {}
    for name in master.settings.names:
        if any(word in name for word in SECRET_WORDS):
            continue
        try:
            value = master.settings[name]
        except (KeyError, ValueError) as exc:
            value = "(invalid: %s)" % exc
        out[name] = value if isinstance(value, (int, float, bool)) else str(value)
    return out


def running_jobs(master: Any) -> list[dict[str, Any]]:
    """The active jobs, oldest first, each with its stages' task counts: ``[name, tasks,
    running, done, failed]`` (from the stages' counters, so cheap however many tasks)."""
    out = []
    for job in list(master.jobs.values()):
        if job.status != "active":
            continue
        out.append({"name": job.name, "owner": job.owner, "started": job.timestamp,
                    "stages": [[s.name, s.tasks, s.running, s.done, s.failed]
                               for s in job.stages]})
    return out


def status_view(master: Any) -> dict[str, Any]:
    jobs = master.joblist()
    return {"version": master.version, "nodes": master.nodes.info(),
            "jobs": jobs[:FEED_JOBS], "jobcount": len(jobs), "running": running_jobs(master),
            "settings": {"max_failure_rate": master.max_failure_rate,
                         "accept_new_jobs": master.accept_new_jobs},
            "links": links(master)}


def job_view(master: Any, job: Any, filter: str = "",
             events: list | None = None) -> dict[str, Any]:
    """The job page's view: ``jobinfo`` with at most :data:`SHOWN_URLS` inputs and results
    (and their counts), its newest events (matching ``filter``) and its timeline."""
    info = job.info()
    for field in ("inputs", "results"):
        urls = info.get(field) or []
        info[field + "_count"] = len(urls)
        info[field] = urls[:SHOWN_URLS]
    jobs = master.joblist()
    if events is None:
        events = job.events.newest(SHOWN_EVENTS, filter)
    return {"name": job.name, "info": info, "events": events, "counters": job.counter_view(),
            "jobs": jobs[:FEED_JOBS], "jobcount": len(jobs), "links": links(master),
            "version": master.version}


def job_timeline(job: Any) -> dict[str, Any]:
    return timeline(getattr(job, "attempts", []), job.started, most=TIMELINE_ATTEMPTS)


class ViewHandler(UIHandler):
    """``/disco/ui/status``, ``/disco/ui/job?name=``, ``/disco/ui/timeline?name=``,
    ``/disco/ui/settings``, ``/disco/ui/links``, ``/disco/ui/safe_to_remove``: what the
    pages show, once."""

    def get(self, what: str) -> None:
        m = self.master
        if what == "status":
            self.reply(status_view(m))
        elif what == "job":
            job = self.job()
            data = job_view(m, job, self.get_query_argument("filter", ""))
            data["timeline"] = job_timeline(job)
            self.reply(data)
        elif what == "timeline":
            job = self.job()
            self.reply(job_timeline(job))
        elif what == "settings":
            self.reply(settings_in_force(m))
        elif what == "links":
            self.reply(links(m))
        elif what == "safe_to_remove":
            self.reply(safe_to_remove(m))
        else:
            raise tornado.web.HTTPError(404, "unknown view %r" % what)


class FeedHandler(UIHandler):
    """``/disco/ui/feed?view=status`` or ``?view=job&name=J[&filter=F]``: server-sent events
    (``text/event-stream``), one ``snapshot`` event with the view each time it changes, and
    a ``gone`` event if the job is purged while the page watches it."""

    closed = False

    def on_connection_close(self) -> None:
        self.closed = True

    async def get(self) -> None:
        view = self.get_query_argument("view", "status")
        if view not in ("status", "job"):
            raise tornado.web.HTTPError(400, "view must be status or job, not %r" % view)
        name = self.get_query_argument("name", "")
        filter = self.get_query_argument("filter", "")
        if view == "job":
            self.job()  # 404 before the stream starts
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        last, quiet, drawn = "", 0.0, None
        filtered: list | None = None
        filtered_at = 0.0
        while not self.closed:
            if view == "status":
                snapshot = json.dumps(status_view(self.master))
            else:
                try:
                    job = self.master.get_job(name)
                except KeyError:
                    await self._send("event: gone\ndata: %s\n\n" % json.dumps(name))
                    return
                events = None
                if filter:
                    if filtered is None or time.monotonic() - filtered_at >= FILTER_EVERY:
                        filtered = job.events.newest(SHOWN_EVENTS, filter)
                        filtered_at = time.monotonic()
                    events = filtered
                data = job_view(self.master, job, filter, events)
                # the timeline changes only when an attempt starts or ends
                progress = (len(getattr(job, "attempts", [])), data["info"].get("pipeline"),
                            data["info"].get("active"))
                if progress != drawn:
                    drawn = progress
                    data["timeline"] = job_timeline(job)
                snapshot = json.dumps(data)
            if snapshot != last:
                last, quiet = snapshot, 0.0
                if not await self._send("event: snapshot\ndata: %s\n\n" % snapshot):
                    return
            elif quiet >= FEED_KEEPALIVE:
                quiet = 0.0
                if not await self._send(": keep-alive\n\n"):
                    return
            await asyncio.sleep(FEED_INTERVAL)
            quiet += FEED_INTERVAL

    async def _send(self, text: str) -> bool:
        try:
            self.write(text)
            await self.flush()
        except tornado.iostream.StreamClosedError:
            self.closed = True
            return False
        return True


class OpenAPIHandler(UIHandler):
    """``/disco/openapi.json``: the API's description (:mod:`..openapi`)."""

    def get(self) -> None:
        self.reply(openapi.document(self.master))


def routes(master: Any) -> list[tuple]:
    kw = {"master": master}
    return [
        (r"/disco/openapi\.json", OpenAPIHandler, kw),
        (r"/(|index\.html|job\.html|config\.html)", PageHandler, kw),
        (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": STATIC}),
        (r"/disco/ui/feed", FeedHandler, kw),
        (r"/disco/ui/(\w+)", ViewHandler, kw),
    ]
