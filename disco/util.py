"""``disco.util``."""
from disco_core.client.disco import load_oob, save_oob  # noqa: F401
from disco_core.fileutils import (decode, disk_sort, encode, sort_reader,  # noqa: F401
                                  unix_sort)
from disco_core.util import (argcount, chainify, flatten, format_size,  # noqa: F401
                             globalize, hexhash, identity, ilen, isiterable, ispartitioned, iskv,
                             iterify, jobname, key, kvgroup, kvify, listify, localize, netloc,
                             partition, proxy_url, reify, schemesplit, shuffled, urljoin,
                             urlresolve, urlsplit, urltoken)
from disco_core.worker.external import external  # noqa: F401
from disco_core.worker.inputlist import (deref, inputexpand, inputlist, parse_dir,  # noqa: F401
                                         read_index)
from disco_core.worker.sort import dsorted  # noqa: F401
