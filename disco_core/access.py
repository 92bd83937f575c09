"""Access to the master: the token every REST and UI request carries.

Submitting a job runs code on the cluster, so the master answers only requests that carry
its token (``DISCO_TOKEN_REQUIRED``, on by default): in the ``X-Disco-Token`` header (or
``Authorization: Bearer``), or in the cookie a browser gets by logging in
(``/?token=...``). The master creates the token on first start in ``DISCO_TOKEN_FILE``
(mode 0600, next to the cluster secret), and ``disco start`` prints the login URL. A client
on the same machine reads that file (no configuration); another one sets ``DISCO_TOKEN``.
The cluster's nodes prove themselves with the cluster secret instead.

A node that listens beyond loopback serves job data (``/disco/`` on ``DISCO_PORT``) only to
requests with the cluster's data key (``X-Disco-Data-Key``, :func:`data_key` of the secret:
its workers have it in ``DISCO_DATA_KEY``, workers in any language, so the shuffle between
nodes carries it) or the master's token (a client reading results); the secret itself never
leaves the nodes and the master. :func:`data_headers_for` picks what a request carries.

DDFS's read and write tokens (``Authorization: Basic``) are another thing and keep their
meaning.
"""
from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from .settings import DiscoSettings

HEADER = "X-Disco-Token"
SECRET_HEADER = "X-Disco-Secret"
DATA_HEADER = "X-Disco-Data-Key"

_cache: dict[str, tuple[float, str]] = {}


def cookie_name(port: int | str) -> str:
    """The login cookie of the master on ``port`` (cookies do not tell ports apart)."""
    return "disco_token_%s" % port


def load_token(path: str, create: bool = False) -> str:
    """The token in ``path``; with ``create``, made (0600) when there is none yet."""
    try:
        with open(path) as f:
            token = f.read().strip()
        if token:
            return token
    except FileNotFoundError:
        if not create:
            return ""
    if not create:
        return ""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    import secrets  # the imports of hashing are in the functions that use them: a client
    token = secrets.token_urlsafe(24)  # command sends its token and never hashes
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.replace(path + ".tmp", path)
    return token


def client_token(settings: DiscoSettings | None = None) -> str:
    """The token this process sends to its master: ``DISCO_TOKEN``, else the master's token
    file when this machine has it (read again only when the file changes)."""
    s = settings if settings is not None else DiscoSettings()
    explicit = str(s.get("DISCO_TOKEN", "") or "")
    if explicit:
        return explicit
    path = s["DISCO_TOKEN_FILE"]
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return ""
    cached = _cache.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_token(path))
        _cache[path] = cached
    return cached[1]


def _netloc(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "::1"):
        host = "localhost"
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def same_server(a: str, b: str) -> bool:
    """Whether URLs ``a`` and ``b`` name one server (host and port; localhost's names
    alike)."""
    try:
        return _netloc(a) == _netloc(b)
    except ValueError:
        return False


def headers_for(url: str, settings: DiscoSettings | None = None) -> dict[str, str]:
    """The token header for a request to ``url`` when it goes to this process's master (or
    its proxy); nothing for any other server, which must never see the token."""
    s = settings if settings is not None else DiscoSettings()
    try:
        target = _netloc(url)
        masters = {_netloc(s["DISCO_MASTER"])}
        if s.get("DISCO_PROXY"):
            masters.add(_netloc(s["DISCO_PROXY"]))
    except (ValueError, KeyError):
        return {}
    if target not in masters:
        return {}
    token = client_token(s)
    return {HEADER: token} if token else {}


def request_token(headers: Any, cookies: Any, port: int | str) -> str:
    """The token a request to the master carries (header, bearer, or login cookie)."""
    token = headers.get(HEADER, "")
    if not token:
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    if not token:
        morsel = cookies.get(cookie_name(port))
        token = morsel.value if morsel is not None else ""
    return token


def same(given: str, expected: str) -> bool:
    import hmac
    return bool(given) and bool(expected) and hmac.compare_digest(given, expected)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        import ipaddress
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_key(secret: str) -> str:
    """The key to the nodes' job data that the cluster secret ``secret`` gives ("" for
    none): a digest, so that workers that read data need not see the secret."""
    if not secret:
        return ""
    import hashlib
    import hmac
    return hmac.new(secret.encode("utf-8"), b"disco job data", hashlib.sha256).hexdigest()


def data_headers_for(url: str, settings: DiscoSettings | None = None) -> dict[str, str]:
    """What a request for a node's job data (``/disco/...`` on ``DISCO_PORT``) carries: the
    data key where this process has it (``DISCO_DATA_KEY``, or the cluster secret of a node
    or the master), else the master's token (a client's); nothing for other URLs."""
    s = settings if settings is not None else DiscoSettings()
    try:
        parts = urlsplit(url)
        if not parts.path.startswith("/disco/") or parts.port != int(s["DISCO_PORT"]):
            return {}
    except (ValueError, KeyError):
        return {}
    key = os.environ.get("DISCO_DATA_KEY") or data_key(os.environ.get("DISCO_CLUSTER_SECRET",
                                                                      ""))
    if key:
        return {DATA_HEADER: key}
    token = client_token(s)
    return {HEADER: token} if token else {}


def data_allowed(headers: Any, secret: str, token: str) -> bool:
    """Whether a request for job data carries the data key of ``secret`` or the token."""
    return same(headers.get(DATA_HEADER, ""), data_key(secret)) \
        or same(request_token(headers, {}, 0), token)
