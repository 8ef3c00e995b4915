"""The platform-agnostic turn flow: store the turn -> enqueue a job -> report the outcome.

Front ends (terminal, Discord) call only this. Every check on user input happens here,
after the turn text is stored, so a refused turn still loses nothing.
"""

from __future__ import annotations

import asyncio
import functools
import random
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from bot.batching import Batcher
from bot.store import repository as repo
from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.jobqueue import DbJobQueue
from bot.store.models import GuildSettings, Session, utcnow
from engine.config import Limits, Settings
from engine.imageio import ImageRejected, decode_image, encode_png
from engine.queue import JobRequest, ProgressEvent
from engine.registry import Registry

FINAL_STATUSES = ("done", "failed", "cancelled")
LOCAL_SAFETY_POLL_SECONDS = 30.0


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
    enabled: list[str] | None = None  # the pipelines the job could use (its server's choice)


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
        self._turns: Batcher[repo.NewTurn, repo.StoredTurn] = Batcher(self._store_turns)
        self._lookups: Batcher[tuple[str, str], tuple[Session | None, GuildSettings | None]] = Batcher(self._find_sessions)

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
        refusal = None
        uploads: list[repo.Upload] = []
        limits = self.settings.limits  # max_message_chars is the operator's alone
        if len(text) > limits.max_message_chars:
            refusal = (
                f"Your message is {len(text):,} characters long; the limit is "
                f"{limits.max_message_chars:,}. I kept it, but please say it more briefly."
            )
        elif attachments:
            _, guild = await repo.session_with_guild(self.db, session_id=session_id)
            limits = effective_limits(self.settings.limits, guild.limits if guild else None)
            # Decoding and re-encoding is CPU work: off the event loop.
            uploads, problems = await asyncio.to_thread(self._accept, list(attachments), limits)
            if problems:
                refusal = "I couldn't use your attachment — " + "; ".join(problems)
        if refusal is None and not text.strip() and not uploads:
            refusal = "Say what you would like me to draw or change."
        plan = None if refusal is not None else functools.partial(self._plan, forced_intent=forced_intent)
        stored = await self._turns.submit(
            repo.NewTurn(session_id, author_id, text, uploads, plan, self.settings.irpem.dialogue_turns)
        )
        receipt = TurnReceipt(
            session_id, stored.turn.id, stored.job.id if stored.job else None,
            attached=[img.number for img in stored.images], refusal=refusal or stored.refusal,
        )
        if stored.job is not None:
            self.queue.notify()
        return receipt

    def _accept(self, attachments: list[Attachment], limits: Limits) -> tuple[list[repo.Upload], list[str]]:
        """Attachments that are usable images, as PNGs in the image store; and what was wrong
        with the others. Runs in a thread."""
        uploads, problems = [], []
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
            uploads.append(repo.Upload(self.images.put(png), len(png), img.width, img.height, "png"))
        return uploads, problems

    def _plan(self, ctx: repo.TurnContext, forced_intent: dict[str, Any] | None) -> JobRequest | str:
        """The job of a turn, or why it gets none: runs inside the turn's transaction, on
        what that transaction read (so two turns at once cannot both slip under a limit)."""
        guild = ctx.guild
        limits = effective_limits(self.settings.limits, guild.limits if guild else None)
        if ctx.active_jobs >= limits.per_user_concurrent_jobs:
            return (
                f"You already have {ctx.active_jobs} request(s) in progress (the limit is "
                f"{limits.per_user_concurrent_jobs}); wait for one to finish."
            )
        if ctx.recent_jobs >= limits.per_user_daily_jobs:
            return (
                f"You have made {ctx.recent_jobs} requests in the last 24 hours, the most allowed "
                f"here; please come back later."
            )
        ab = forced_intent is None and guild is not None and self.rng.random() < guild.ab_probability
        return JobRequest(
            job_id=0,  # the store fills it in
            session_id=ctx.session.id,
            dialogue=ctx.dialogue,
            image_refs=ctx.images,
            current_image=ctx.session.current_image_number,
            seed=secrets.randbelow(2**31),
            enabled=guild.enabled_pipelines if guild else None,
            overrides=(guild.pipeline_overrides or {}) if guild else {},
            forced_intent=forced_intent,
            candidates=2 if ab else 1,
        )

    async def _store_turns(self, items: list[repo.NewTurn]) -> list[repo.StoredTurn]:
        return await repo.add_turns(self.db, items, since=utcnow() - timedelta(days=1))

    async def find_session(self, platform: str, channel_id: str) -> tuple[Session | None, GuildSettings | None]:
        """The session of a channel, if it has one, and its guild's settings. Every message
        in a channel asks this first, so look-ups that arrive together share one query."""
        return await self._lookups.submit((platform, channel_id))

    async def _find_sessions(self, keys: list[tuple[str, str]]) -> list[tuple[Session | None, GuildSettings | None]]:
        found: dict[tuple[str, str], tuple[Session, GuildSettings | None]] = {}
        for platform in {p for p, _ in keys}:
            rows = await repo.sessions_by_channel(self.db, platform, [c for p, c in keys if p == platform])
            found.update({(platform, channel): row for channel, row in rows.items()})
        return [found.get(key, (None, None)) for key in keys]

    async def session_exists(self, session_id: int) -> bool:
        return await repo.get_session(self.db, session_id) is not None

    async def cancel(self, job_id: int) -> bool:
        return await self.queue.cancel(job_id)

    async def wait(
        self, job_id: int, on_progress: Callable[[ProgressEvent], Awaitable[None]] | None = None
    ) -> JobOutcome:
        """Wait for a job to end, passing its progress events on; return what happened."""
        # The row is the truth: read it at the start (the job may be over already) and when
        # this process reports the end. Remote workers send no events, so without a local
        # worker the row is also read every poll interval; with one, only a rare look covers
        # an end written by another process (a cancel from another front end, say).
        poll = self.settings.queue.poll_seconds
        if self.queue.local_worker:
            poll = max(poll, LOCAL_SAFETY_POLL_SECONDS)
        async with self.queue.subscribe(job_id) as events:
            while True:
                outcome = await self.outcome(job_id)
                if outcome is not None:
                    return outcome
                try:
                    while True:
                        event = await asyncio.wait_for(events.get(), timeout=poll)
                        if event.stage == "finished":
                            break
                        if on_progress is not None:
                            await on_progress(event)
                except TimeoutError:
                    pass

    async def outcome(self, job_id: int) -> JobOutcome | None:
        """The job's outcome if it has ended, else None."""
        job, session_current = await repo.job_and_current_image(self.db, job_id)
        if job is None:
            raise repo.NotFound(f"there is no job {job_id}")
        if job.status not in FINAL_STATUSES:
            return None
        result = job.result or {}
        current = result["current_image"] if "current_image" in result else session_current
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
            enabled=(job.payload or {}).get("enabled"),
        )


def _all_images(result: dict[str, Any]) -> list[str]:
    """Content addresses in numbering order: every candidate's (A/B), else the result's."""
    if result.get("candidates"):
        return [sha for c in result["candidates"] for sha in c.get("images", [])]
    return result.get("images", [])


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
