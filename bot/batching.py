"""Group commit for the event loop: callers submit one item each, and the items that arrive
while a batch is being written go together in the next one.

Alone, an item is written at once (a batch of one, no added delay); under a burst, fifty
turns share a handful of transactions instead of queueing for SQLite's one writer fifty
times. One batch runs at a time per ``Batcher``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], max_batch: int = 200) -> None:
        """``write(items)`` returns one result per item, in order."""
        self.write = write
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writing: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="batcher")
            self._runner.add_done_callback(self._abandon)
        # A caller that gives up does not take the batch down with it: the item is written.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._writing = batch
            try:
                results = await self.write([item for item, _ in batch])
            except Exception as err:  # noqa: BLE001 - handed to the callers
                if len(batch) == 1:
                    _settle(batch[0][1], error=err)
                    continue
                # One bad item must not fail the others: write them one by one.
                for item, future in batch:
                    try:
                        (result,) = await self.write([item])
                    except Exception as one_err:  # noqa: BLE001
                        _settle(future, error=one_err)
                    else:
                        _settle(future, result)
                continue
            if len(results) != len(batch):
                # A fault of ``write``, not of an item: the batch may be stored, so it is not
                # retried item by item, and no caller is left waiting for an unmatched result.
                err = RuntimeError(f"{self.write.__qualname__} returned {len(results)} results for {len(batch)} items")
                for _, future in batch:
                    _settle(future, error=err)
                continue
            for (_, future), result in zip(batch, results):
                _settle(future, result)
        self._writing = []

    def _abandon(self, runner: asyncio.Task) -> None:
        """A cancelled runner (shutdown) writes nothing more, so its callers are cancelled
        rather than left waiting; a callback, because a runner cancelled before its first
        step never runs a line of ``_run``."""
        if not runner.cancelled() or runner is not self._runner:
            return
        for _, future in self._writing + self._pending:
            future.cancel()
        self._writing, self._pending = [], []


def _settle(future: asyncio.Future, result=None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
