"""Assembling the embedded default: store, queue, conversation and (unless workers are
remote) an in-process worker, in one process. Front ends enter ``embedded(...)``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.conversation import Conversation
from bot.store.db import Database, upgrade
from bot.store.images import ImageStore
from bot.store.jobqueue import DbJobQueue
from engine.config import Settings
from engine.registry import Registry
from engine.runtime import Engine
from engine.worker import Worker, worker_alive

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Call once start-up is done, before serving. Start-up leaves a large heap of long-lived
    objects (torch, transformers, discord.py, the models), and every full collection of the
    garbage collector walks all of it on the event loop: measured 0.3-0.8 s stalls while the
    bot served a burst of turns. Frozen, they are left out of every later collection."""
    gc.collect()
    gc.freeze()


@dataclass
class App:
    settings: Settings
    conversation: Conversation
    queue: DbJobQueue
    engine: Engine | None
    worker: Worker | None  # None when workers are remote


@contextlib.asynccontextmanager
async def embedded(settings: Settings, engine: Engine | None = None) -> AsyncIterator[App]:
    """Apply migrations, resume jobs a dead process left behind, and run the worker."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.db_url)
    db = Database(settings.db_url)
    images = ImageStore(settings.data_dir / "images")
    queue = DbJobQueue(
        db,
        images,
        max_attempts=settings.queue.max_attempts,
        position_interval=settings.bot.status_interval_seconds,
        dialogue_turns=settings.irpem.dialogue_turns,
    )
    # A second process on this database (a `dialogdraw chat` beside the bot) must not take
    # over the jobs the first is running: only the jobs of dead workers are put back.
    resumed = await queue.recover(alive=worker_alive)
    if resumed:
        log.info("resuming %d job(s) left unfinished by an earlier process", resumed)
    registry = engine.registry if engine else Registry.from_settings(settings)
    conversation = Conversation(settings, db, images, queue, registry)
    stop = asyncio.Event()
    worker = worker_task = None
    if settings.queue.mode == "inprocess":
        engine = engine or Engine(settings, registry)
        worker = Worker(queue, engine)
        queue.local_worker = True
        worker_task = asyncio.create_task(worker.run(stop), name="dialogdraw-worker")
    try:
        yield App(settings, conversation, queue, engine, worker)
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task
        await db.dispose()
