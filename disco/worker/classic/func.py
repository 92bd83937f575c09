"""``disco.worker.classic.func``."""
from disco_core.worker.func import *  # noqa: F401,F403
from disco_core.worker.func import (default_partition, make_range_partition, nop_map,  # noqa: F401
                                    nop_reduce, sum_combiner, sum_reduce)
