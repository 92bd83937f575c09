"""``disco.ddfs``: the DDFS client (``DDFS``, ``canonizetag``, ...), from the DDFS plugin
(``pip install disco-plugin-ddfs``); without it, importing this module raises ImportError."""
try:
    from disco_plugin_ddfs.client import (DDFS, InvalidTag, canonizetag,  # noqa: F401
                                          canonizetags, istag, relativizetag, tagname)
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("disco.ddfs needs the DDFS plugin: pip install disco-plugin-ddfs (%s)"
                      % exc) from exc

__all__ = ["DDFS", "InvalidTag", "canonizetag", "canonizetags", "istag", "tagname",
           "relativizetag"]
