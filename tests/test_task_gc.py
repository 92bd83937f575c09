"""A task's record loop runs with the cyclic collector seldom at work, and the collector is
as it was once the loop is over; cyclic garbage made in the loop is still collected."""
import gc
import weakref

from disco_core.worker.classic import fewer_collections


class Node:
    pass


def test_the_collector_runs_seldom_in_the_loop_and_as_before_after():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] >= 100_000
        assert gc.get_freeze_count() > 0  # what lived before the task is out of reach
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_dropped_in_the_loop_are_still_collected():
    with fewer_collections():
        refs = []
        for _ in range(1000):
            a, b = Node(), Node()
            a.other, b.other = b, a
            refs.append(weakref.ref(a))
        del a, b
        # objects kept, enough for a collection of the young generation
        kept = [[] for _ in range(300_000)]
        assert sum(r() is None for r in refs) > 0
        del kept


def test_the_collector_is_restored_when_the_loop_fails():
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise ValueError("a map that fails")
    except ValueError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
