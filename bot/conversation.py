"""The only door of a drawing session: every front end (terminal, Discord, web) calls this
and nothing else of the bot. It checks what comes in, applies the session's rules
(``engine.session``), stores through ``bot.store`` and queues jobs, and answers in plain
data that a front end renders. A request that cannot be done raises ``Refusal``, whose
message is written for the user.

Every check on a user's turn happens after the turn's text is stored, so a refused turn
still loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.batching import Batcher
from bot.store import feedback as feedback_store
from bot.store import guilds, jobs, sessions
from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.jobqueue import DbJobQueue
from bot.store.models import GuildSettings, Session, Turn, utcnow
from bot.store.preferences import FeedbackStats, feedback_stats, preference_pairs
from engine import session as rules
from engine.config import Limits, Settings
from engine.imageio import ImageRejected, decode_image, encode_png
from engine.irpem.pairs import PreferencePair
from engine.queue import ProgressEvent
from engine.registry import IntentError, Registry
from engine.session import Action, Refusal

FINAL_STATUSES = ("done", "failed", "cancelled")
LOCAL_SAFETY_POLL_SECONDS = 30.0
NOT_YOURS = "Only the person who started this thread can do that here."
GONE = "That message is no longer in my records."
MIB = 1024 * 1024

__all__ = ["Conversation", "Refusal"]


@dataclass
class Attachment:
    filename: str
    data: bytes
    # The size the platform announced: an attachment over the limit is refused from it,
    # without downloading (``data`` is then empty).
    declared_size: int | None = None


@dataclass(frozen=True)
class SessionView:
    """A session as a front end needs it: whose it is, who may talk in it and which
    pipelines its server offers."""

    id: int
    owner_id: str
    guild_id: str | None
    who_can_talk: str
    current_image: int | None
    enabled: list[str] | None = None  # None: every pipeline the config offers

    def may_act(self, user_id: str) -> bool:
        return rules.may_act(self.owner_id, self.who_can_talk, user_id)


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
class Candidate:
    """One answer of an A/B turn, ready to show."""

    intent: dict[str, Any]
    reply: str
    images: list[NewImage]


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
    candidates: list[Candidate] = field(default_factory=list)  # A/B turns: A, B
    actions: list[Action] = field(default_factory=list)  # the buttons that can act on it


@dataclass
class Choice:
    """What an A/B choice left: the chosen answer and the buttons that now apply."""

    label: str  # "A" or "B"
    reply: str
    images: list[int]
    current_image: int | None
    actions: list[Action]


@dataclass
class CorrectionForm:
    """What the "Neither" form starts with."""

    intent: str
    text: str
    choices: list[str]


@dataclass
class ServerView:
    """What a server offers, for moderators."""

    pipelines: list[tuple[str, bool, str, dict[str, Any]]]  # id, on, description, its defaults here
    limits: Limits  # in force (the config's, lowered by the server's own)
    own_limits: dict[str, Any]
    who_can_talk: str
    ab_probability: float


@dataclass
class UnfinishedJob:
    job_id: int
    channel_id: str
    message_id: str | None


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
        self._turns: Batcher[sessions.NewTurn, sessions.StoredTurn] = Batcher(self._store_turns)
        self._lookups: Batcher[tuple[str, str], SessionView | None] = Batcher(self._find_sessions)
        self._messages: Batcher[tuple[int, str], None] = Batcher(self._set_status_messages)

    # ----- sessions -----

    async def open_session(
        self, platform: str, channel_id: str | None, owner_id: str, guild_id: str | None = None
    ) -> int:
        """The session of a channel (created on first use); without a channel, a new one."""
        return (await sessions.open_session(self.db, platform, channel_id, owner_id, guild_id)).id

    async def find_session(self, platform: str, channel_id: str) -> SessionView | None:
        """The session of a channel, if it has one. Every message in a channel asks this
        first, so look-ups that arrive together share one query."""
        return await self._lookups.submit((platform, channel_id))

    async def _find_sessions(self, keys: list[tuple[str, str]]) -> list[SessionView | None]:
        found: dict[tuple[str, str], SessionView] = {}
        for platform in {p for p, _ in keys}:
            rows = await sessions.sessions_by_channel(self.db, platform, [c for p, c in keys if p == platform])
            found.update({(platform, channel): _view(*row) for channel, row in rows.items()})
        return [found.get(key) for key in keys]

    async def session(self, session_id: int) -> SessionView:
        try:
            return _view(*await sessions.session_with_guild(self.db, session_id))
        except sessions.NotFound:
            raise Refusal(f"There is no session {session_id}.") from None

    # ----- turns -----

    async def user_turn(
        self,
        session_id: int,
        author_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        ab_probability: float = 0.0,
    ) -> TurnReceipt:
        """Store a user's turn and, unless something is wrong with it, queue its job.
        ``ab_probability``: how often to ask an A/B question outside a server (a server's
        own setting wins)."""
        limits = self.settings.limits  # max_message_chars is the operator's alone
        refusal = rules.message_refusal(text, limits)
        uploads: list[sessions.StoredImage] = []
        if refusal is None and attachments:
            _, guild = await sessions.session_with_guild(self.db, session_id)
            limits = rules.effective_limits(self.settings.limits, guild.limits if guild else None)
            # Decoding and re-encoding is CPU work: off the event loop.
            uploads, problems = await asyncio.to_thread(self._accept, list(attachments), limits)
            if problems:
                refusal = "I couldn't use your attachment — " + "; ".join(problems)
        if refusal is None and not text.strip() and not uploads:
            refusal = "Say what you would like me to draw or change."
        return await self._turn(session_id, author_id, text, uploads, refusal, ab_probability=ab_probability)

    async def _turn(
        self,
        session_id: int,
        author_id: str,
        text: str,
        uploads: list[sessions.StoredImage],
        refusal: str | None,
        *,
        forced: dict[str, Any] | None = None,
        ab_probability: float = 0.0,
    ) -> TurnReceipt:
        ticket = (
            None
            if refusal is not None
            else rules.Ticket(
                seed=secrets.randbelow(2**31),
                ab_draw=self.rng.random(),
                limits=self.settings.limits,
                forced_intent=forced,
                ab_probability=ab_probability,
            )
        )
        stored = await self._turns.submit(sessions.NewTurn(session_id, author_id, text, uploads, ticket))
        if stored.job is not None:
            self.queue.notify()
        return TurnReceipt(
            session_id,
            stored.turn.id,
            stored.job.id if stored.job else None,
            attached=[img.number for img in stored.images],
            refusal=refusal or stored.refusal,
        )

    def _accept(self, attachments: list[Attachment], limits: Limits) -> tuple[list[sessions.StoredImage], list[str]]:
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
            uploads.append(sessions.StoredImage(self.images.put(png), len(png), img.width, img.height, "png"))
        return uploads, problems

    async def _store_turns(self, items: list[sessions.NewTurn]) -> list[sessions.StoredTurn]:
        return await sessions.add_turns(self.db, items, since=utcnow() - timedelta(days=1))

    async def _forced_turn(self, session: SessionView, user_id: str, forced: rules.Forced) -> TurnReceipt:
        if not session.may_act(user_id):
            raise Refusal(NOT_YOURS)
        return await self._turn(session.id, user_id, forced.text, [], None, forced=forced.intent)

    # ----- buttons and commands that run as turns -----

    async def act(self, turn_id: int, user_id: str, action: Action) -> TurnReceipt:
        """A button on an answer (🔁 reroll, ↩️ undo, ⬆️ upscale, 🔀 vary): a new turn of its
        session whose intent the button gives (``engine.session.forced_intent``)."""
        turn, answer, session = await self._answer(turn_id)
        forced = rules.forced_intent(action, answer, self.registry, session.enabled)
        return await self._forced_turn(session, user_id, forced)

    async def act_on_current(self, session_id: int, user_id: str, action: Action) -> TurnReceipt:
        """The same as ``act``, on the session's current image (the terminal's commands):
        reroll remakes the answer that made it, upscale and vary act on it, undo is the
        session's undo."""
        session = await self.session(session_id)
        answer = None
        if action == "reroll" and session.current_image is not None:
            found = await sessions.latest_answer(self.db, session_id, image=session.current_image)
            answer = found[1] if found else None
        image = session.current_image if action in ("upscale", "vary") else None
        forced = rules.forced_intent(action, answer, self.registry, session.enabled, image=image)
        return await self._forced_turn(session, user_id, forced)

    async def revert(self, session_id: int, user_id: str, number: int) -> TurnReceipt:
        """Make image #number current again (a turn, so the dialogue shows it)."""
        session = await self.session(session_id)
        return await self._forced_turn(session, user_id, rules.revert_intent(number))

    async def correct(self, turn_id: int, user_id: str, intent_id: str, text: str) -> TurnReceipt:
        """The "Neither" form: what the user meant is stored as a correction (the preferred
        answer of a training pair) and runs as the session's next turn."""
        turn, _, session = await self._answer(turn_id)
        if not session.may_act(user_id):
            raise Refusal(NOT_YOURS)
        candidates = [c["intent"] for c in turn.candidates or []]
        try:
            corrected = rules.correction(self.registry, candidates, intent_id.strip(), text.strip(), session.enabled)
        except IntentError as err:
            raise Refusal(f"I couldn't use that correction: {err}") from None
        await feedback_store.set_vote(
            self.db, turn_id, user_id, "correction", payload={"text": text.strip(), "intent": corrected}
        )
        return await self._turn(session.id, user_id, text.strip() or intent_id.strip(), [], None, forced=corrected)

    # ----- feedback -----

    async def vote(self, turn_id: int, user_id: str, up: bool) -> None:
        """👍/👎 on an answer: anyone may vote; a second vote replaces the first."""
        await self._answer(turn_id)
        await feedback_store.set_vote(self.db, turn_id, user_id, "up" if up else "down")

    async def choose(self, turn_id: int, user_id: str, label: str) -> Choice:
        """A or B: the chosen candidate becomes the answer the dialogue goes on from."""
        turn, _, session = await self._answer(turn_id)
        index = "AB".index(label.upper()) if label.upper() in ("A", "B") else -1
        if not turn.candidates or not 0 <= index < len(turn.candidates):
            raise Refusal("There is no choice to make there.")
        if not session.may_act(user_id):
            raise Refusal(NOT_YOURS)
        await feedback_store.set_vote(self.db, turn_id, user_id, f"choice_{label.lower()}", candidate=index)
        turn, state = await sessions.choose_candidate(self.db, turn_id, index)
        chosen = rules.Candidate.from_dict(turn.candidates[index])
        answer = rules.Answer(turn.intent, chosen.numbers)
        return Choice(
            label.upper(),
            chosen.reply,
            list(chosen.numbers),
            state.current,
            rules.offered_actions(answer, self.registry, session.enabled),
        )

    async def neither(self, turn_id: int, user_id: str) -> CorrectionForm:
        """ "Neither" on an A/B turn: noted, and the form to say what was meant."""
        turn, _, session = await self._answer(turn_id)
        if not turn.candidates:
            raise Refusal("There is no choice to make there.")
        if not session.may_act(user_id):
            raise Refusal(NOT_YOURS)
        await feedback_store.set_vote(self.db, turn_id, user_id, "neither")
        intent, text = rules.correction_defaults([c["intent"] for c in turn.candidates])
        return CorrectionForm(intent, text, self.registry.intents(session.enabled))

    async def details(self, turn_id: int) -> dict[str, Any]:
        """The intent an answer ran, and its candidates' on an A/B turn."""
        turn, _, _ = await self._answer(turn_id)
        shown: dict[str, Any] = {"intent": turn.intent}
        if turn.candidates:
            shown["candidates"] = [c["intent"] for c in turn.candidates]
        return shown

    async def latest_answer(self, session_id: int, *, choice: bool = False) -> int | None:
        """The turn id of the session's latest answer (with ``choice``: A/B answer)."""
        found = await sessions.latest_answer(self.db, session_id, choice=choice)
        return found[0].id if found else None

    async def _answer(self, turn_id: int) -> tuple[Turn, rules.Answer, SessionView]:
        found = await sessions.answer(self.db, turn_id)
        if found is None:
            raise Refusal(GONE)
        turn, answer = found
        return turn, answer, await self.session(turn.session_id)

    # ----- jobs -----

    async def cancel(self, job_id: int, user_id: str) -> bool:
        """Cancel a queued or running job; False if it had already ended."""
        try:
            job, session = await jobs.job_with_session(self.db, job_id)
        except sessions.NotFound:
            raise Refusal("That request is no longer in my records.") from None
        view = await self.session(session.id)
        if not view.may_act(user_id):
            raise Refusal(NOT_YOURS)
        return await self.queue.cancel(job_id)

    async def queue_position(self, job_id: int) -> int | None:
        return await self.queue.queue_position(job_id)

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
        job, session = await jobs.job_with_session(self.db, job_id)
        if job.status not in FINAL_STATUSES:
            return None
        if job.result is None:
            return JobOutcome(job.id, job.status, "", None, [], session.current_image_number, job.error)
        result = jobs.StoredResult.from_dict(job.result)
        addresses = result.addresses
        enabled = (job.payload or {}).get("enabled")
        new = [NewImage(n, self.images.path(sha)) for n, sha in addresses.items()]
        candidates = [
            Candidate(c.intent, c.reply, [NewImage(n, self.images.path(addresses[n])) for n in c.numbers])
            for c in result.candidates
        ]
        shown = result.candidates[0].numbers if result.candidates else tuple(result.numbers)
        return JobOutcome(
            job_id=job.id,
            status=job.status,
            reply=result.reply,
            intent=result.intent,
            images=new,
            current_image=result.current_image,
            parent_image=result.parent_image,
            error=job.error,
            turn_id=result.turn_id,
            candidates=candidates,
            actions=rules.offered_actions(rules.Answer(result.intent, shown), self.registry, enabled),
        )

    async def unfinished_jobs(self, platform: str) -> list[UnfinishedJob]:
        """Queued or running jobs of the platform's sessions, oldest first: what a restarted
        front end still has to report (and where)."""
        return [
            UnfinishedJob(job.id, session.channel_id, job.reply_message_id)
            for job, session in await jobs.active_jobs_on(self.db, platform)
        ]

    async def remember_status_message(self, job_id: int, message_id: str) -> None:
        """The front end's message that shows a job, found again after a restart."""
        await self._messages.submit((job_id, message_id))

    async def _set_status_messages(self, pairs: list[tuple[int, str]]) -> list[None]:
        await jobs.set_reply_messages(self.db, pairs)
        return [None] * len(pairs)

    # ----- moderators: what a server offers -----

    def pipeline_ids(self) -> list[str]:
        """Every pipeline the operator's config offers (what a server may switch on)."""
        return self.registry.enabled_ids()

    async def server(self, guild_id: str) -> ServerView:
        guild = await guilds.guild_settings(self.db, guild_id)
        on = set(self.registry.enabled_ids(guild.enabled_pipelines))
        pipelines = [
            (i, i in on, self.registry.description(i), dict((guild.pipeline_overrides or {}).get(i) or {}))
            for i in self.registry.enabled_ids()
        ]
        return ServerView(
            pipelines,
            rules.effective_limits(self.settings.limits, guild.limits),
            dict(guild.limits or {}),
            guild.who_can_talk,
            guild.ab_probability,
        )

    async def set_pipeline(self, guild_id: str, pipeline: str, on: bool) -> None:
        available = self.registry.enabled_ids()
        if pipeline not in available:
            raise Refusal(f"There is no pipeline `{pipeline}`. Available: {', '.join(available)}")
        guild = await guilds.guild_settings(self.db, guild_id)
        current = set(self.registry.enabled_ids(guild.enabled_pipelines))
        current = current | {pipeline} if on else current - {pipeline}
        await guilds.update_guild_settings(self.db, guild_id, enabled_pipelines=[i for i in available if i in current])

    async def set_pipeline_default(self, guild_id: str, pipeline: str, key: str, value: str) -> Any:
        """A server's default for one input of a pipeline, typed as a user would type it
        (``value`` "default" removes it). Returns the stored value (None when removed)."""
        if pipeline not in self.registry.enabled_ids():
            raise Refusal(f"There is no pipeline `{pipeline}`.")
        parsed = None if value.strip().lower() == "default" else self._setting(pipeline, key, value)
        guild = await guilds.guild_settings(self.db, guild_id)
        overrides = {k: dict(v) for k, v in (guild.pipeline_overrides or {}).items()}
        mine = overrides.setdefault(pipeline, {})
        if parsed is None:
            mine.pop(key, None)
        else:
            mine[key] = parsed
        if not mine:
            overrides.pop(pipeline)
        await guilds.update_guild_settings(self.db, guild_id, pipeline_overrides=overrides)
        return parsed

    def _setting(self, pipeline: str, key: str, value: str) -> Any:
        """``value`` checked against the pipeline's input ``key``: JSON when it parses (30,
        0.6, true), else the text itself. Image references are no server default."""
        from pydantic import ValidationError

        settable = rules.settable_inputs(self.registry, pipeline)
        if key not in settable:
            raise Refusal(f"Not changed: `{key}` is not a setting of this pipeline (settings: {', '.join(settable)})")
        model = self.registry.inputs_model(pipeline)
        try:
            candidates = [json.loads(value), value]
        except json.JSONDecodeError:
            candidates = [value]
        error = None
        for candidate in candidates:
            try:
                checked = model.__pydantic_validator__.validate_assignment(model.model_construct(), key, candidate)
            except ValidationError as err:
                error = error or err
                continue
            return getattr(checked, key)
        raise Refusal(f"Not changed: bad value for `{key}`: {error.errors()[0]['msg']}")

    async def set_limits(
        self,
        guild_id: str,
        *,
        concurrent_jobs: int | None = None,
        daily_quota: int | None = None,
        max_image_mb: float | None = None,
    ) -> ServerView:
        """A server's own per-user limits (each capped by the operator's)."""
        guild = await guilds.guild_settings(self.db, guild_id)
        mine = dict(guild.limits or {})
        if concurrent_jobs is not None:
            mine["per_user_concurrent_jobs"] = concurrent_jobs
        if daily_quota is not None:
            mine["per_user_daily_jobs"] = daily_quota
        if max_image_mb is not None:
            mine["max_attachment_bytes"] = int(max_image_mb * MIB)
        if mine != (guild.limits or {}):
            await guilds.update_guild_settings(self.db, guild_id, limits=mine)
        return await self.server(guild_id)

    async def set_server(
        self, guild_id: str, *, who_can_talk: str | None = None, ab_probability: float | None = None
    ) -> ServerView:
        changes: dict[str, Any] = {}
        if who_can_talk is not None:
            changes["who_can_talk"] = who_can_talk
        if ab_probability is not None:
            changes["ab_probability"] = ab_probability
        if changes:
            try:
                await guilds.update_guild_settings(self.db, guild_id, **changes)
            except ValueError as err:
                raise Refusal(f"Not changed: {err}") from None
        return await self.server(guild_id)

    async def feedback_stats(self, guild_id: str | None) -> FeedbackStats:
        return await feedback_stats(self.db, guild_id)

    async def preference_pairs(self, guild_id: str | None) -> list[PreferencePair]:
        return await preference_pairs(self.db, guild_id)


def _view(session: Session, guild: GuildSettings | None) -> SessionView:
    return SessionView(
        session.id,
        session.owner_id,
        session.guild_id,
        guild.who_can_talk if guild else "owner",
        session.current_image_number,
        guild.enabled_pipelines if guild else None,
    )


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"
