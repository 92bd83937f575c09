"""Settings: ``DISCO_*`` / ``DDFS_*`` names with the original's defaults where they exist.

One documented order, lowest first: defaults < settings file < environment < explicit
overrides (``DiscoSettings(DISCO_PORT=9000)`` or ``settings["DISCO_PORT"] = 9000``).

The settings file is Python: every upper-case name it assigns is a setting. It is the file
named by ``DISCO_SETTINGS_FILE``, else ``~/.disco`` if it exists, else
``/etc/disco/settings.py`` if it exists.

Defaults may be expressions of other settings (``DISCO_DATA`` follows ``DISCO_ROOT``), so
moving ``DISCO_HOME`` moves everything under it. Plugins add settings of their own through
the ``disco_settings`` hook (see :func:`register_defaults`).

Core defines only the settings some part of core reads (``disco -v`` prints them all, and
``tests/test_cli_settings.py`` checks each has a reader). The original's settings for parts
that live elsewhere here -- DDFS replication (``DDFS_BLOB_REPLICAS``, ``DDFS_TAG_REPLICAS``,
``DDFS_TAG_MIN_REPLICAS``) -- are a storage plugin's to register; those of the Erlang master
(``DISCO_MASTER_HOME``, ``DISCO_FLAGS``, ``DISCO_ERLANG``, ...) have no meaning here.
``DDFS_DATA`` (and ``DDFS_ROOT``, which it follows) and ``DDFS_PUT_PORT`` are kept because
the worker protocol gives every task ``ddfs_data`` and ``put_port`` and the original's
``disco.util.localize`` maps ``ddfs/`` paths with them; serving, creating and filling that
directory is a storage plugin's (through ``disco_node_routes``), not core's.
"""
from __future__ import annotations

import os
import socket
import sys
from typing import Any, Callable

Default = Callable[["DiscoSettings"], Any]


def _ncpus(_s: "DiscoSettings") -> int:
    return os.cpu_count() or 1


def _quote(word: str) -> str:
    import shlex  # here: a short command quotes nothing
    return shlex.quote(word)


DEFAULTS: dict[str, Default | Any] = {
    "DISCO_HOME": lambda s: os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "disco"),
    "DISCO_ROOT": lambda s: os.path.join(s["DISCO_HOME"], "root"),
    "DISCO_DATA": lambda s: os.path.join(s["DISCO_ROOT"], "data"),
    "DISCO_MASTER_ROOT": lambda s: os.path.join(s["DISCO_DATA"], "_" + s["DISCO_NAME"]),
    "DISCO_MASTER_CONFIG": lambda s: os.path.join(s["DISCO_ROOT"], s["DISCO_NAME"] + ".config"),
    "DISCO_MASTER_HOST": "localhost",
    "DISCO_MASTER": lambda s: "http://%s:%s" % (s["DISCO_MASTER_HOST"], s["DISCO_PORT"]),
    "DISCO_NAME": lambda s: "disco_%s" % s["DISCO_PORT"],
    "DISCO_PORT": 8989,
    "DISCO_LOG_DIR": lambda s: os.path.join(s["DISCO_ROOT"], "log"),
    "DISCO_PID_DIR": lambda s: os.path.join(s["DISCO_ROOT"], "run"),
    "DISCO_DEBUG": "off",
    "DISCO_EVENTS": "",
    "DISCO_JOB_OWNER": lambda s: "%s@%s" % (_user(), socket.gethostname()),
    "DISCO_WORKER_MAX_MEM": "80%",
    # seconds a task's worker may run before the node kills it and the task is retried (0: no limit)
    "DISCO_WORKER_TIMEOUT": 0.0,
    # seconds a warm worker (one that asked to run more tasks of its job) waits for the next
    "DISCO_WORKER_IDLE": 2.0,
    # fsync each task output and the node's index of them (off: they survive any process
    # killed, not a machine crash; lost intermediate outputs are made again; atomicfile.py)
    "DISCO_FSYNC_OUTPUTS": 0,
    "DISCO_WORKERS": _ncpus,
    "DISCO_SETTINGS_FILE": lambda s: _guess_settings_file(),
    "DISCO_SCHEDULER": "fair",
    "DISCO_SCHEDULER_ALPHA": 0.001,
    "DISCO_PLACEMENT": "locality",
    "DISCO_PROXY": "",
    "DISCO_GC_AFTER": 100 * 365 * 24 * 3600,
    "DATA_GC_INTERVAL": 12,
    "DISCO_MAX_FAILURE_RATE": 3,
    # a node that failed this many attempts of one job's tasks gets no more of them (0: never)
    "DISCO_JOB_NODE_FAILURES": 3,
    # the largest job pack the master takes (bytes); a bigger one is refused with HTTP 413
    "DISCO_MAX_JOBPACK_SIZE": 1 << 30,
    # finished jobs the master keeps in memory; older ones are read from disk when asked for
    "DISCO_KEEP_FINISHED_JOBS": 100,
    # seconds between pings on a node's connection to the master (both ways), and how long a
    # ping may go unanswered (at most the interval) before the connection is dropped, and a
    # node that lost its connection may take to come back before its tasks run elsewhere
    "DISCO_NODE_PING_INTERVAL": 10.0,
    "DISCO_NODE_PING_TIMEOUT": 10.0,
    "DISCO_RETRY_BASE": 1.0,
    "DISCO_RETRY_MAX": 60.0,
    "DISCO_RETRY_JITTER": 1.0,
    "DISCO_SORT_BUFFER_SIZE": 256 * 1024 * 1024,
    "DISCO_TEXT_INPUTS": "str",
    "DISCO_WORKER_FORK": 1,
    "DISCO_SECRET_FILE": lambda s: os.path.join(s["DISCO_ROOT"], s["DISCO_NAME"] + ".secret"),
    # the master answers only requests with its token (see disco_core.access); 0 turns it off
    "DISCO_TOKEN_REQUIRED": 1,
    "DISCO_TOKEN_FILE": lambda s: os.path.join(s["DISCO_ROOT"], s["DISCO_NAME"] + ".token"),
    # a client's token for a master on another machine (else DISCO_TOKEN_FILE is read)
    "DISCO_TOKEN": "",
    # nodes on other machines (disco_core.master.remote): started over SSH as this user, with
    # this key, host keys checked against this file (new ones accepted only when told to)
    "DISCO_SSH_USER": "",
    "DISCO_SSH_KEY": "",
    "DISCO_SSH_KNOWN_HOSTS": "~/.ssh/known_hosts",
    "DISCO_SSH_ACCEPT_NEW_HOST_KEYS": 0,
    "DISCO_SSH_PORT": 22,
    "DISCO_SSH_TIMEOUT": 10.0,
    # hosts started over SSH even if they look local, as host[:ssh-port] (commas or spaces)
    "DISCO_SSH_HOSTS": "",
    # what starts a node over SSH (--host, --master and --settings-stdin are added), its
    # DISCO_ROOT there (empty: that host's default), the master's URL as nodes there reach it
    # (empty: DISCO_MASTER_HOST, or this machine's name) and the master's listening address
    # (empty: loopback, unless DISCO_MASTER_HOST or a node on another host needs more)
    "DISCO_NODE_COMMAND": lambda s: "%s -m disco_core.node" % _quote(sys.executable),
    "DISCO_NODE_ROOT": "",
    "DISCO_NODE_MASTER": "",
    "DISCO_MASTER_BIND": "",
    "DISCO_DISABLE_PLUGINS": "",
    "DISCO_RAISE_PLUGIN_ERRORS": 0,
    "DDFS_ROOT": lambda s: os.path.join(s["DISCO_ROOT"], "ddfs"),
    "DDFS_DATA": lambda s: s["DDFS_ROOT"],
    "DDFS_PUT_PORT": 8990,
}

#: On/off settings: read with :meth:`DiscoSettings.flag`, which also takes yes/no, on/off.
_FLAGS = {"DISCO_WORKER_FORK", "DISCO_RAISE_PLUGIN_ERRORS", "DISCO_SSH_ACCEPT_NEW_HOST_KEYS",
          "DISCO_FSYNC_OUTPUTS"}


def _number_type(name: str, value: Any) -> type | None:
    if name in _FLAGS or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return type(value)


#: Settings that are integers or floats: string values (from the environment, a file or a
#: call) are converted to the type of the default.
_NUMERIC: dict[str, type] = {name: t for name, value in DEFAULTS.items()
                             if (t := _number_type(name, value)) is not None}
_NUMERIC["DISCO_WORKERS"] = int
_NUMERIC["DATA_GC_INTERVAL"] = float  # hours; fractions let a test run GC every few seconds
_NUMERIC["DISCO_GC_AFTER"] = float


def register_defaults(defaults: dict[str, Any]) -> None:
    """Add settings contributed by a plugin; core's own names cannot be redefined."""
    for name, value in defaults.items():
        if name in DEFAULTS:
            continue
        DEFAULTS[name] = value
        kind = _number_type(name, value)
        if kind is not None:
            _NUMERIC[name] = kind


def _user() -> str:
    try:
        import getpass  # here: it loads termios, for a default rarely asked for
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


def _guess_settings_file() -> str:
    for path in (os.path.expanduser("~/.disco"), "/etc/disco/settings.py"):
        if os.path.isfile(path):
            return path
    return ""


def read_settings_file(path: str) -> dict[str, Any]:
    """The upper-case names a settings file assigns; a missing file is a clear error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            "settings file %r does not exist: create it or unset DISCO_SETTINGS_FILE" % path)
    scope: dict[str, Any] = {}
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    exec(code, scope)
    return {k: v for k, v in scope.items() if k.isupper()}


class DiscoSettings(dict):
    """A dict of settings: explicit items win, then the environment, the file, the default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file_cache: tuple[str, dict[str, Any]] | None = None

    def _file_values(self) -> dict[str, Any]:
        # DISCO_SETTINGS_FILE set to "" (explicitly or in the environment) means no file
        if dict.__contains__(self, "DISCO_SETTINGS_FILE"):
            path = dict.__getitem__(self, "DISCO_SETTINGS_FILE")
        elif "DISCO_SETTINGS_FILE" in os.environ:
            path = os.environ["DISCO_SETTINGS_FILE"]
        else:
            path = _guess_settings_file()
        if not path:
            return {}
        if self._file_cache is None or self._file_cache[0] != path:
            self._file_cache = (path, read_settings_file(path))
        return self._file_cache[1]

    def __getitem__(self, key: str) -> Any:
        if dict.__contains__(self, key):
            value = dict.__getitem__(self, key)
        elif key in os.environ:
            value = os.environ[key]
        else:
            values = self._file_values() if key != "DISCO_SETTINGS_FILE" else {}
            if key in values:
                value = values[key]
            elif key in DEFAULTS:
                value = DEFAULTS[key]
                if callable(value):
                    value = value(self)
            else:
                raise KeyError("unknown setting %r" % key)
        kind = _NUMERIC.get(key)
        if kind is not None and isinstance(value, str):
            try:
                value = kind(value)
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise ValueError("setting %s=%r is not %s: set it to %s or unset it"
                                 % (key, value, what, what)) from None
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (dict.__contains__(self, key) or key in os.environ
                                         or key in DEFAULTS)

    @property
    def names(self) -> list[str]:
        return sorted(set(DEFAULTS) | {k for k in os.environ if k.startswith(("DISCO_", "DDFS_"))}
                      | set(dict.keys(self)))

    @property
    def env(self) -> dict[str, str]:
        """The environment with every setting exported as a string (for child processes)."""
        env = dict(os.environ)
        for name in self.names:
            env[name] = str(self[name])
        return env

    def ensuredirs(self) -> None:
        for name in ("DISCO_DATA", "DISCO_ROOT", "DISCO_MASTER_ROOT", "DISCO_LOG_DIR",
                     "DISCO_PID_DIR"):
            os.makedirs(self[name], exist_ok=True)

    def seconds(self, name: str) -> float:
        """A setting that is a positive number of seconds; a clear error for anything else."""
        value = float(self[name])
        if not value > 0:
            raise ValueError("setting %s=%r is not a positive number of seconds: set it to "
                             "e.g. %s or unset it" % (name, self[name], DEFAULTS.get(name, 10)))
        return value

    def flag(self, name: str) -> bool:
        value = self[name]
        if isinstance(value, str):
            return value.strip().lower() not in ("", "0", "no", "off", "false")
        return bool(value)
