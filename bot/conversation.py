"""The platform-agnostic turn flow: store the turn -> enqueue a job -> report the outcome.

Front ends (terminal, Discord) call only this. Every check on user input happens here,
after the turn text is stored, so a refused turn still loses nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from bot.store import repository as repo
from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.jobqueue import DbJobQueue
from bot.store.models import utcnow
from engine.config import Limits, Settings
from engine.imageio import ImageRejected, decode_image, encode_png
from engine.queue import JobRequest, ProgressEvent
from engine.registry import Registry

FINAL_STATUSES = ("done", "failed", "cancelled")


# Limits a server may set for itself (``/limits``); each is capped by the config's value,
# which is the operator's ceiling.
GUILD_LIMITS = ("per_user_concurrent_jobs", "per_user_daily_jobs", "max_attachment_bytes")


@dataclass
class Attachment:
    filename: str
    data: bytes
    # The size the platform announced: an attachment over the limit is refused from it,
    # without downloading (``data`` is then empty).
    declared_size: int | None = None


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
    turn_id: int | None = None  # the assistant turn (feedback and buttons refer to it)
    candidates: list["Candidate"] = field(default_factory=list)  # A/B turns: A, B


@dataclass
class Candidate:
    intent: dict[str, Any]
    reply: str
    images: list[NewImage]


def effective_limits(limits: Limits, overrides: dict[str, Any] | None) -> Limits:
    """The config's limits with a server's own values, never above the config's."""
    changes = {
        key: min(int(value), getattr(limits, key))
        for key, value in (overrides or {}).items()
        if key in GUILD_LIMITS and value is not None
    }
    return limits.model_copy(update=changes)


class Conversation:
    def __init__(
        self, settings: Settings, db: Database, images: ImageStore, queue: DbJobQueue, registry: Registry
    ) -> None:
        self.settings = settings
        self.db = db
        self.images = images
        self.queue = queue
        self.registry = registry
        self.rng = random.Random()  # whether a turn becomes an A/B choice

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
        """Store a user's turn and, unless something is wrong with it, queue its job. In a
        server, its limits apply, and with its A/B probability the job asks for two
        candidates (never for button actions, whose intent is given)."""
        turn = await repo.add_user_turn(self.db, session_id, author_id, text)
        session = await repo.get_session(self.db, session_id)
        guild = await repo.guild_settings(self.db, session.guild_id) if session.guild_id else None
        limits = effective_limits(self.settings.limits, guild.limits if guild else None)
        receipt = TurnReceipt(session_id, turn.id, None)

        if len(text) > limits.max_message_chars:
            receipt.refusal = (
                f"Your message is {len(text):,} characters long; the limit is "
                f"{limits.max_message_chars:,}. I kept it, but please say it more briefly."
            )
            return receipt

        problems = []
        for att in attachments:
            if att.declared_size is not None and att.declared_size > limits.max_attachment_bytes:
                problems.append(
                    f"{att.filename}: the file is {_mib(att.declared_size)}; the limit is {_mib(limits.max_attachment_bytes)}"
                )
                continue
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
        today = await repo.jobs_since(self.db, author_id, utcnow() - timedelta(days=1))
        if today >= limits.per_user_daily_jobs:
            receipt.refusal = (
                f"You have made {today} requests in the last 24 hours, the most allowed "
                f"here; please come back later."
            )
            return receipt

        ab = forced_intent is None and guild is not None and self.rng.random() < guild.ab_probability
        # Read everything before the insert's transaction: the builder runs inside it, and
        # reads on other pooled connections there would hold the SQLite write lock (and a
        # pool slot) while waiting for more connections — a deadlock under a burst of turns.
        template = await self._request(0, session_id, forced_intent, 2 if ab else 1)
        job = await repo.enqueue_job(
            self.db, session_id, turn.id, author_id, lambda job_id: dataclasses.replace(template, job_id=job_id)
        )
        self.queue.notify()
        receipt.job_id = job.id
        return receipt

    async def _request(
        self, job_id: int, session_id: int, forced_intent: dict[str, Any] | None, candidates: int = 1
    ) -> JobRequest:
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
            candidates=candidates,
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
        numbered = dict(zip(result.get("numbers", []), _all_images(result)))
        new = [NewImage(n, self.images.path(sha)) for n, sha in numbered.items()]
        candidates = [
            Candidate(c["intent"], c["reply"], [NewImage(n, self.images.path(numbered[n])) for n in c["numbers"]])
            for c in result.get("candidates") or []
        ]
        return JobOutcome(
            job_id=job.id,
            status=job.status,
            reply=result.get("reply", ""),
            intent=result.get("intent"),
            images=new,
            current_image=current,
            parent_image=result.get("parent_image"),
            error=job.error,
            turn_id=result.get("turn_id"),
            candidates=candidates,
        )


def _all_images(result: dict[str, Any]) -> list[str]:
    """Content addresses in numbering order: every candidate's (A/B), else the result's."""
    if result.get("candidates"):
        return [sha for c in result["candidates"] for sha in c.get("images", [])]
    return result.get("images", [])


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
