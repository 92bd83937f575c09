"""``disco.util``."""
from disco_core.fileutils import (decode, disk_sort, encode, sort_reader,  # noqa: F401
                                  unix_sort)
from disco_core.util import (argcount, chainify, deref, dsorted, flatten,  # noqa: F401
                             format_size, globalize, hexhash, identity, ilen, inputexpand,
                             inputlist, isiterable, ispartitioned, iskv, iterify, jobname, key,
                             kvgroup, kvify, listify, load_oob, localize, netloc, parse_dir,
                             partition, proxy_url, read_index, reify, save_oob, schemesplit,
                             shuffled, urljoin, urlresolve, urlsplit, urltoken)
from disco_core.worker.external import external  # noqa: F401
