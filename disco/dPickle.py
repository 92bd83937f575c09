"""``disco.dPickle``: pickling that ships functions by value.

The original had its own pickler that serialised non-standard-library functions and partials
by their code; cloudpickle does the same (lambdas, closures, functions of ``__main__``,
partials) and is what jobs are pickled with here, so this module is cloudpickle under the
original's names. ``loads`` is the standard unpickler: the functions carry their code.
"""
import pickle

from cloudpickle import CloudPickler as Pickler  # noqa: F401
from cloudpickle import dump, dumps  # noqa: F401

load = pickle.load
loads = pickle.loads

__all__ = ["Pickler", "dump", "dumps", "load", "loads"]
