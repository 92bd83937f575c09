"""The master's door: every request needs the master's token (:mod:`disco_core.access`).

:class:`GuardedApplication` checks each request before it reaches any handler, core's or a
plugin's: a node's cluster secret or the master's token (header, bearer or login cookie)
lets it through; ``?token=`` on a page logs a browser in (a cookie, then a redirect to the
page without it); anything else is a 401 that says where the token is, with a login form
for a browser. ``DISCO_TOKEN_REQUIRED=0`` opens the door. Job data files (the node beside
the master serves them on its port) are served as every node's data server serves them
(beyond loopback, only with the data key or the token: :mod:`disco_core.access`). A
node's connection (``/disco/node/connect``) checks the cluster secret itself, to tell a
refused node why (:class:`~.handlers.NodeSocket`).
"""
from __future__ import annotations

import html
import json
import urllib.parse
from typing import Any

import tornado.httputil
import tornado.web

from .. import access
from ..dataserver import DataHandler

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>disco: log in</title>
<link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;background:#f3f5f7;color:#1d232b;display:flex;
justify-content:center;padding-top:12vh}form{background:#fff;border:1px solid #d9dee4;
border-radius:6px;padding:1.5em 2em;max-width:34em}input{font:inherit;width:100%%;
padding:.4em;margin:.6em 0}button{font:inherit;padding:.35em 1em}.no{color:#b3243a}
code{background:#eef1f4;padding:0 .2em}</style></head>
<body><form method="get" action="%(action)s"><h1>disco</h1>%(problem)s
<p>This master needs its token. <code>disco start</code> printed a login URL with it; on the
master's machine it is in <code>%(path)s</code>.</p>
<label for="token">Token</label><input id="token" name="token" type="password"
autocomplete="current-password" autofocus><button type="submit">log in</button></form>
</body></html>"""


class Refused(tornado.web.RequestHandler):
    """A request without the token: 401, and nothing else."""

    def initialize(self, master: Any, wrong: bool) -> None:
        self.master = master
        self.wrong = wrong

    def prepare(self) -> None:
        path = self.master.settings["DISCO_TOKEN_FILE"]
        self.set_status(401)
        self.set_header("Cache-Control", "no-store")
        if self.request.method == "GET" and "text/html" in self.request.headers.get(
                "Accept", ""):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            problem = '<p class="no">That token is not this master\'s.</p>' if self.wrong \
                else ""
            self.finish(LOGIN_PAGE % {"action": html.escape(self.request.path),
                                      "problem": problem, "path": html.escape(path)})
            return
        self.set_header("Content-Type", "application/json")
        what = "a wrong token" if self.wrong else "no token"
        self.finish(json.dumps(
            "this master answers only requests with its token, and this one has %s: send it "
            "in the %s header (it is in %s on the master's machine; a client elsewhere sets "
            "DISCO_TOKEN)" % (what, access.HEADER, path)))


class LogIn(tornado.web.RequestHandler):
    """``?token=`` with the right token: the login cookie, and the page without it."""

    def initialize(self, master: Any) -> None:
        self.master = master

    def prepare(self) -> None:
        self.set_cookie(access.cookie_name(self.master.settings["DISCO_PORT"]),
                        self.master.token, httponly=True, samesite="Strict", path="/")
        query = [(k, v) for k, v in urllib.parse.parse_qsl(self.request.query,
                                                          keep_blank_values=True)
                 if k != "token"]
        target = self.request.path + ("?" + urllib.parse.urlencode(query) if query else "")
        self.redirect(target)


class GuardedApplication(tornado.web.Application):
    """A Tornado application whose every request shows the master's token first."""

    def __init__(self, master: Any, *args: Any, **kwargs: Any) -> None:
        self.master = master
        super().__init__(*args, **kwargs)

    def find_handler(self, request: tornado.httputil.HTTPServerRequest,
                     **kwargs: Any) -> Any:
        delegate = super().find_handler(request, **kwargs)
        if request.method in ("GET", "HEAD") and isinstance(
                getattr(delegate, "handler_class", None), type) \
                and issubclass(delegate.handler_class, DataHandler) and self.data_open(request):
            return delegate  # job data, served as every node's data server serves it
        if getattr(getattr(delegate, "handler_class", None), "checks_secret", False):
            return delegate  # a node's connection: refused there, with the reason it is told
        verdict = self.check(request)
        if verdict is not None:
            handler, args = verdict
            return self.get_handler_delegate(request, handler, args)
        return delegate

    def data_open(self, request: tornado.httputil.HTTPServerRequest) -> bool:
        """Whether job data goes to ``request``: always while the master listens on loopback
        only, else with the cluster's data key or the token, as a node's beyond loopback."""
        master = self.master
        where = master.nodes.listen_address
        if not master.token_required or where is None or access.is_loopback(where):
            return True
        return access.data_allowed(request.headers, master.secret, master.token)

    def check(self, request: tornado.httputil.HTTPServerRequest) -> tuple | None:
        master = self.master
        if not master.token_required:
            return None
        if access.same(request.headers.get(access.SECRET_HEADER, ""), master.secret):
            return None  # one of the cluster's nodes
        given = access.request_token(request.headers, request.cookies,
                                     master.settings["DISCO_PORT"])
        if access.same(given, master.token):
            return None
        query = urllib.parse.parse_qs(request.query).get("token", [""])[0]
        if request.method == "GET" and query:
            if access.same(query, master.token):
                return LogIn, {"master": master}
            return Refused, {"master": master, "wrong": True}
        return Refused, {"master": master, "wrong": bool(given)}
