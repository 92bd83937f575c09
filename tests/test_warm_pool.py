"""The node's pool of warm workers, as a unit: a worker parked and taken many times (one
process running thousands of tasks of a job) leaves nothing behind on its exit future."""
from __future__ import annotations

import asyncio

from disco_core.node.warm import WarmPool, WarmWorker


class _Stream:
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class CountingPool(WarmPool):
    discarded = 0

    def discard(self, worker: WarmWorker) -> None:
        self.discarded += 1
        super().discard(worker)


def test_a_worker_parked_and_taken_many_times_keeps_one_exit_callback():
    async def cycle() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        exit_future = loop.create_future()
        pool = CountingPool(idle=60.0)
        pid = 2 ** 22 + 12345  # no such process: kill() finds nothing to signal
        for _ in range(1000):
            pool.park(WarmWorker("job@1", pid, _Stream(), _Stream(), exit_future))
            worker = pool.take("job@1")
            assert worker is not None and worker.timer is None
        pool.park(WarmWorker("job@1", pid, _Stream(), _Stream(), exit_future))
        # every wait on the exit (asyncio.wait, several per task) adds and removes its own
        # callback: the count it leaves is what the pool holds
        removed = exit_future.remove_done_callback(lambda _f: None)
        exit_future.set_result(0)
        await asyncio.sleep(0)
        return pool.discarded, removed + len(pool)

    discarded, left = asyncio.run(cycle())
    assert discarded == 1  # the parked worker only, not once per earlier task
    assert left == 0       # the exited worker is out of the pool


def test_taking_a_worker_cancels_its_idle_timer():
    async def run() -> int:
        loop = asyncio.get_running_loop()
        pool = CountingPool(idle=0.01)
        pool.park(WarmWorker("job@2", 2 ** 22 + 1, _Stream(), _Stream(), loop.create_future()))
        assert pool.take("job@2") is not None
        await asyncio.sleep(0.05)
        return pool.discarded

    assert asyncio.run(run()) == 0
