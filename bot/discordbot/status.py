"""One status message per job, edited in place as the job moves, never faster than the
rate limit allows: progress arriving between two edits is coalesced into the latest text.
The final edit does not wait for a slot (it is the one the user waits for; discord.py
still honours a 429 if Discord sends one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import discord

from engine.queue import ProgressEvent

log = logging.getLogger(__name__)


def progress_text(event: ProgressEvent) -> str | None:
    if event.stage == "queued":
        return f"⏳ Queued — position {event.position}" if event.position else "⏳ Queued"
    if event.stage == "understanding":
        return "🧠 Reading the conversation…"
    if event.stage == "running":
        return f"🎨 Working ({event.intent})…"
    if event.stage == "step" and event.total:
        return f"🎨 Drawing… step {event.step}/{event.total}"
    return None


def queued_text(position: int | None, attached: list[int]) -> str:
    text = f"⏳ Queued — position {position}" if position else "⏳ Queued"
    if attached:
        text = " ".join(f"#{n}" for n in attached) + " received. " + text
    return text


class StatusMessage:
    def __init__(
        self, message: discord.PartialMessage | discord.Message, interval: float, shown: str | None = None
    ) -> None:
        """``shown``: the text the message was posted with (just now), if known."""
        self.message = message
        self.interval = interval
        self._pending: str | None = None
        self._shown = shown
        self._last = time.monotonic() if shown is not None else float("-inf")
        self._task: asyncio.Task | None = None
        self._sleeping = False

    def update(self, text: str | None) -> None:
        """Show ``text`` soon (at the next free slot); later texts replace unsent ones."""
        if text is None or text == self._shown:
            return
        self._pending = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending is not None:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self._sleeping = True
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._sleeping = False
                continue
            text, self._pending = self._pending, None
            self._last = time.monotonic()
            try:
                await self.message.edit(content=text)
                self._shown = text
            except discord.HTTPException as err:
                log.warning("status edit failed: %s", err)

    async def close(self) -> None:
        """Drop unsent progress; let an edit already in flight land first (so it cannot
        arrive after, and overwrite, the final message)."""
        self._pending = None
        task = self._task
        if task is None or task.done():
            return
        if self._sleeping:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
