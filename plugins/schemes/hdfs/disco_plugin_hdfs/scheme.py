"""``hdfs://NAMENODE:PORT/PATH``: files in HDFS as a job's inputs, and results saved there.

* **Inputs** (``open``): the file's bytes, streamed from the datanode the namenode's
  ``OPEN`` redirects to; its size is the ``length`` of its ``FileStatus``. A connection
  that drops part-way is read on from the byte it stopped at (``offset=``). A directory is
  the bytes of its files one after another, in name order, leaving out the names Hadoop
  treats as hidden (``_SUCCESS``, ``_logs``, ``.crc`` files: a leading ``_`` or ``.``),
  so a Hadoop job's output directory is one input; its subdirectories are not read. A
  path that does not exist, a namenode that cannot be reached and the namenode's other
  refusals are :class:`~disco_core.errors.DataError` (the worker tries the next replica,
  then the task is retried), with the namenode's own words
  (``FileNotFoundException: File does not exist: /x``).
* **Results** (``save_results=True, save_info="hdfs,NAMENODE:PORT,USER,/DIR/"``): each
  output of each task of the job's last stage is written to
  ``/DIR/<job name, '@' and ':' as '_'>/<task id>_<n>`` as ``USER``, and the job's results
  are those ``hdfs://`` URLs, which ``result_iterator`` reads through this scheme (the
  files are in the internal record format). ``/DIR`` gets a ``/`` when it has none. A
  file saved by an earlier try of the task is overwritten.

Requests are sent as the user ``DISCO_HDFS_USER`` when it is set (``user.name=``, simple
authentication; a ``save_info``'s user for results), else with no user, which the namenode
takes as its default (``dr.who``).
"""
from __future__ import annotations

import io
from typing import Any

from disco_core.errors import DiscoError

from .webhdfs import HDFSError, HDFSStream, WebHDFS, parse_url

SAVE_FORM = "hdfs,NAMENODE:PORT,USER,/DIR/"


def user() -> str | None:
    """``DISCO_HDFS_USER``, or None when it is not set."""
    from disco_core.plugins import get_host
    from disco_core.settings import DiscoSettings
    get_host()  # the plugin's settings are registered with the host
    return DiscoSettings().get("DISCO_HDFS_USER") or None


def hidden(name: str) -> bool:
    """Whether Hadoop's input formats leave ``name`` out of a directory's files."""
    return name.startswith(("_", "."))


class DirectoryStream(io.RawIOBase):
    """The files of a directory, one after another."""

    def __init__(self, client: WebHDFS, files: list[tuple[str, int]]) -> None:
        self.client = client
        self.files = list(files)
        self.size = sum(size for _path, size in files)
        self.current: HDFSStream | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            if self.current is None:
                if not self.files:
                    return 0
                path, size = self.files.pop(0)
                self.current = self.client.open(path, size)
            n = self.current.readinto(b)
            if n:
                return n
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        super().close()


def open_path(url: str, as_user: str | None = None) -> io.BufferedReader:
    """A buffered binary stream of the file (or directory) ``url`` names; ``.size`` is its
    length in bytes, ``.url`` the URL."""
    client, path = WebHDFS.of(url, as_user)
    status = client.status(path)
    raw: Any
    if status.get("type") == "DIRECTORY":
        base = path.rstrip("/")
        files = [("%s/%s" % (base, s["pathSuffix"]), int(s.get("length", 0)))
                 for s in client.list(path)
                 if s.get("type") == "FILE" and not hidden(s.get("pathSuffix", ""))]
        raw = DirectoryStream(client, files)
    else:
        raw = client.open(path, int(status.get("length", 0)))
    stream = io.BufferedReader(raw, 1 << 20)
    stream.size = raw.size  # type: ignore[attr-defined]
    stream.url = url  # type: ignore[attr-defined]
    return stream


def parse_save_info(save_info: str) -> tuple[str, int, str, str]:
    """``(namenode, port, user, directory)`` of ``hdfs,NAMENODE:PORT,USER,/DIR/``."""
    parts = save_info.split(",")
    if len(parts) != 4 or parts[0] != "hdfs":
        raise DiscoError("save_info %r is not of the form %s: give the namenode's WebHDFS "
                         "address, the HDFS user and the directory for the results"
                         % (save_info, SAVE_FORM))
    _hdfs, address, as_user, directory = (p.strip() for p in parts)
    host, _, port = address.partition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DiscoError("save_info %r: %r is not NAMENODE:PORT (the namenode's WebHDFS "
                         "address, e.g. namenode:50070); the form is %s"
                         % (save_info, address, SAVE_FORM))
    if not directory.startswith("/"):
        raise DiscoError("save_info %r: the directory %r is not an absolute HDFS path; the "
                         "form is %s" % (save_info, directory, SAVE_FORM))
    if not directory.endswith("/"):
        directory += "/"
    return host, int(port), as_user, directory


def results_dir(jobname: str) -> str:
    """The job's folder name under a ``save_info`` directory."""
    return jobname.replace("@", "_").replace(":", "_")


class HDFSScheme:
    name = "hdfs"

    def open(self, url: str, task: Any = None) -> io.BufferedReader:
        parse_url(url)  # a malformed URL is the user's mistake, not a DataError
        return open_path(url, user())

    def save_outputs(self, save_info: str, jobname: str, taskid: int,
                     outputs: list) -> list[tuple[int, str, int]]:
        """Each local output ``(label, path, size)`` written to HDFS where ``save_info``
        says; ``(label, hdfs url, size)`` of each."""
        host, port, as_user, directory = parse_save_info(save_info)
        client = WebHDFS(host, port, as_user)
        folder = directory + results_dir(jobname)
        saved = []
        for n, (label, path, size) in enumerate(outputs):
            url = client.create("%s/%d_%d" % (folder, taskid, n), path, overwrite=True)
            saved.append((label, url, size))
        return saved


scheme = HDFSScheme()

__all__ = ["HDFSError", "HDFSScheme", "scheme"]
