"""The platform-agnostic turn flow: store the turn -> enqueue a job -> report the outcome.

Front ends (terminal, Discord) call only this. Every check on user input happens here,
after the turn text is stored, so a refused turn still loses nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from bot.store import repository as repo
from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.jobqueue import DbJobQueue
from engine.config import Settings
from engine.imageio import ImageRejected, decode_image, encode_png
from engine.queue import JobRequest, ProgressEvent
from engine.registry import Registry

FINAL_STATUSES = ("done", "failed", "cancelled")


@dataclass
class Attachment:
    filename: str
    data: bytes


@dataclass
class TurnReceipt:
    session_id: int
    turn_id: int
    job_id: int | None
    attached: list[int] = field(default_factory=list)  # numbers given to accepted attachments
    refusal: str | None = None  # why no job was queued, in plain words


@dataclass
class NewImage:
    number: int
    path: Path


@dataclass
class JobOutcome:
    job_id: int
    status: str
    reply: str
    intent: dict[str, Any] | None
    images: list[NewImage]
    current_image: int | None
    error: str | None
    parent_image: int | None = None  # the image an edit started from


class Conversation:
    def __init__(
        self, settings: Settings, db: Database, images: ImageStore, queue: DbJobQueue, registry: Registry
    ) -> None:
        self.settings = settings
        self.db = db
        self.images = images
        self.queue = queue
        self.registry = registry

    async def session_for(
        self, platform: str, channel_id: str | None, owner_id: str, guild_id: str | None = None
    ) -> int:
        session = await repo.get_or_create_session(self.db, platform, channel_id, owner_id, guild_id)
        return session.id

    async def user_turn(
        self,
        session_id: int,
        author_id: str,
        text: str,
        attachments: list[Attachment] = (),
        forced_intent: dict[str, Any] | None = None,
    ) -> TurnReceipt:
        """Store a user's turn and, unless something is wrong with it, queue its job."""
        limits = self.settings.limits
        turn = await repo.add_user_turn(self.db, session_id, author_id, text)
        receipt = TurnReceipt(session_id, turn.id, None)

        if len(text) > limits.max_message_chars:
            receipt.refusal = (
                f"Your message is {len(text):,} characters long; the limit is "
                f"{limits.max_message_chars:,}. I kept it, but please say it more briefly."
            )
            return receipt

        problems = []
        for att in attachments:
            try:
                img = decode_image(att.data, max_bytes=limits.max_attachment_bytes, max_pixels=limits.max_image_pixels)
            except ImageRejected as err:
                problems.append(f"{att.filename}: {err}")
                continue
            png = encode_png(img)
            sha = self.images.put(png)
            image = await repo.add_image(
                self.db, session_id, sha, len(png), img.width, img.height, "png", turn.id, None
            )
            receipt.attached.append(image.number)
        if problems:
            receipt.refusal = "I couldn't use your attachment — " + "; ".join(problems)
            return receipt
        if not text.strip() and not receipt.attached:
            receipt.refusal = "Say what you would like me to draw or change."
            return receipt

        active = await repo.active_jobs_for_user(self.db, author_id)
        if active >= limits.per_user_concurrent_jobs:
            receipt.refusal = (
                f"You already have {active} request(s) in progress (the limit is "
                f"{limits.per_user_concurrent_jobs}); wait for one to finish."
            )
            return receipt

        job = await repo.enqueue_job(
            self.db, session_id, turn.id, author_id,
            lambda job_id: self._request(job_id, session_id, forced_intent),
        )
        self.queue.notify()
        receipt.job_id = job.id
        return receipt

    async def _request(self, job_id: int, session_id: int, forced_intent: dict[str, Any] | None) -> JobRequest:
        session = await repo.get_session(self.db, session_id)
        images = await repo.session_images(self.db, session_id)
        guild = await repo.guild_settings(self.db, session.guild_id) if session.guild_id else None
        return JobRequest(
            job_id=job_id,
            session_id=session_id,
            dialogue=await repo.dialogue(self.db, session_id, self.settings.irpem.dialogue_turns),
            image_refs={img.number: img.sha256 for img in images},
            current_image=session.current_image_number,
            seed=secrets.randbelow(2**31),
            enabled=guild.enabled_pipelines if guild else None,
            overrides=(guild.pipeline_overrides or {}) if guild else {},
            forced_intent=forced_intent,
        )

    async def session_exists(self, session_id: int) -> bool:
        return await repo.get_session(self.db, session_id) is not None

    async def cancel(self, job_id: int) -> bool:
        return await self.queue.cancel(job_id)

    async def wait(
        self, job_id: int, on_progress: Callable[[ProgressEvent], Awaitable[None]] | None = None
    ) -> JobOutcome:
        """Wait for a job to end, passing its progress events on; return what happened."""
        async with self.queue.subscribe(job_id) as events:
            while True:
                # The row is the truth (remote workers send no events): read it at the start,
                # when this process reports the end, and at each poll interval.
                outcome = await self.outcome(job_id)
                if outcome is not None:
                    return outcome
                try:
                    while True:
                        event = await asyncio.wait_for(events.get(), timeout=self.settings.queue.poll_seconds)
                        if event.stage == "finished":
                            break
                        if on_progress is not None:
                            await on_progress(event)
                except TimeoutError:
                    pass

    async def outcome(self, job_id: int) -> JobOutcome | None:
        """The job's outcome if it has ended, else None."""
        job = await repo.get_job(self.db, job_id)
        if job.status not in FINAL_STATUSES:
            return None
        result = job.result or {}
        if "current_image" in result:
            current = result["current_image"]
        else:
            current = (await repo.get_session(self.db, job.session_id)).current_image_number
        new = [NewImage(n, self.images.path(sha)) for n, sha in zip(result.get("numbers", []), result.get("images", []))]
        return JobOutcome(
            job_id=job.id,
            status=job.status,
            reply=result.get("reply", ""),
            intent=result.get("intent"),
            images=new,
            current_image=current,
            parent_image=result.get("parent_image"),
            error=job.error,
        )
