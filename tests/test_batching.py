"""bot.batching.Batcher: group commit on the event loop, with errors kept to their own item."""

from __future__ import annotations

import asyncio

import pytest

from bot.batching import Batcher


class Writer:
    """Records each batch; ``gate`` holds a write open so that a burst can queue behind it."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None
        self.fail_on = fail_on or set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if bad := self.fail_on.intersection(items):
            raise ValueError(f"bad item {min(bad)}")
        return [i * 10 for i in items]


async def test_an_item_alone_is_written_at_once_as_a_batch_of_one():
    writer = Writer()
    assert await Batcher(writer).submit(3) == 30
    assert writer.batches == [[3]]


async def test_items_that_arrive_during_a_write_share_the_next_batch():
    writer = Writer()
    writer.gate = asyncio.Event()
    batcher = Batcher(writer)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0)  # the first write is now open
    burst = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(first, *burst) == [0, 10, 20, 30, 40, 50]
    assert writer.batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_burst_is_cut_at_max_batch():
    writer = Writer()
    writer.gate = asyncio.Event()
    batcher = Batcher(writer, max_batch=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40]
    assert writer.batches == [[0, 1], [2, 3], [4]]


async def test_one_bad_item_fails_alone_and_the_others_are_written():
    writer = Writer(fail_on={2})
    writer.gate = asyncio.Event()
    batcher = Batcher(writer)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
    await asyncio.sleep(0)
    writer.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError) and "bad item 2" in str(results[2])
    # the failed batch, then each item on its own
    assert writer.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]


async def test_a_write_that_returns_too_few_results_fails_its_callers_instead_of_hanging():
    batches: list[list[int]] = []

    async def short(items: list[int]) -> list[int]:
        batches.append(items)
        return items[:1]

    batcher = Batcher(short)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
    assert all(isinstance(r, RuntimeError) and "returned 1 results for 3 items" in str(r) for r in results)
    assert batches == [[0, 1, 2]]  # not written again item by item: the batch may be stored


async def test_a_caller_that_gives_up_still_gets_its_item_written():
    writer = Writer()
    writer.gate = asyncio.Event()
    batcher = Batcher(writer)
    caller = asyncio.create_task(batcher.submit(7))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    writer.gate.set()
    await batcher._runner
    assert writer.batches == [[7]]


@pytest.mark.parametrize("steps", [1, 3], ids=["before-its-first-step", "mid-write"])
async def test_shutdown_cancels_the_waiting_callers(steps):
    writer = Writer()
    writer.gate = asyncio.Event()
    batcher = Batcher(writer, max_batch=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    for _ in range(steps):
        await asyncio.sleep(0)
    assert len(writer.batches) == (steps > 1)
    batcher._runner.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert batcher._pending == [] and batcher._writing == []
