"""The async data API of the conversation layer: sessions, turns, images, jobs, feedback and
guild settings. Each function is one short transaction on ``db``; the rows it returns stay
readable afterwards (the session factory does not expire them) but are detached. Functions
that take a list (``add_turns``, ``set_reply_messages``) do the work of many callers in one
transaction with set-based statements: under a burst, the cost of a transaction (and the
wait for SQLite's one writer) is paid once per batch rather than once per turn.

Image numbers (#n) come from a per-session counter bumped with ``UPDATE ... RETURNING``, so
two writers can never hand out the same number. Job state moves only forward: a result or
failure is recorded once, for a job still queued or running; anything else raises
``JobStateError`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.models import (
    FEEDBACK_GROUPS,
    WHO_CAN_TALK,
    Feedback,
    GuildSettings,
    Image,
    Job,
    Session,
    Turn,
    utcnow,
)
from engine.queue import DialogueTurn, JobRequest, JobResult

ACTIVE_JOB_STATUSES = ("queued", "running")
NOTHING_TO_UNDO = "There is nothing to undo."


class NotFound(LookupError):
    """A session, turn or job that does not exist."""


class JobStateError(RuntimeError):
    """The job has already ended (done, failed or cancelled); nothing was recorded."""


@dataclass
class Recorded:
    """What ``record_result`` stored."""

    turn: Turn  # the assistant turn (its text is the reply the user should see)
    images: list[Image] = field(default_factory=list)  # the new images, in order
    current_image: int | None = None  # the session's current image afterwards
    notice: str | None = None  # set when undo/revert could not be done; also the turn's text


@dataclass(frozen=True)
class ImageInfo:
    size: int
    width: int
    height: int
    format: str


# ----- sessions -----


async def get_or_create_session(
    db: Database, platform: str, channel_id: str | None, owner_id: str, guild_id: str | None = None
) -> Session:
    """The session of ``(platform, channel_id)``, created if there is none. A session without
    a channel (a terminal conversation) is always new."""
    if channel_id is not None:
        found = await session_by_channel(db, platform, channel_id)
        if found is not None:
            return found
    try:
        async with db.write() as s:
            session = Session(platform=platform, channel_id=channel_id, owner_id=owner_id, guild_id=guild_id)
            s.add(session)
        return session
    except IntegrityError:
        # Another writer created it between our look-up and insert.
        found = await session_by_channel(db, platform, channel_id) if channel_id is not None else None
        if found is None:
            raise
        return found


async def get_session(db: Database, session_id: int) -> Session | None:
    async with db.session() as s:
        return await s.get(Session, session_id)


async def session_by_channel(db: Database, platform: str, channel_id: str) -> Session | None:
    async with db.session() as s:
        q = select(Session).where(Session.platform == platform, Session.channel_id == channel_id)
        return (await s.execute(q)).scalar_one_or_none()


async def sessions_by_channel(
    db: Database, platform: str, channel_ids: list[str]
) -> dict[str, tuple[Session, GuildSettings | None]]:
    """The sessions of many channels of a platform, each with its guild's settings (as
    ``session_with_guild``), in one query; channels without a session are left out."""
    q = (
        select(Session, GuildSettings)
        .outerjoin(GuildSettings, GuildSettings.guild_id == Session.guild_id)
        .where(Session.platform == platform, Session.channel_id.in_(sorted(set(channel_ids))))
    )
    async with db.session() as s:
        rows = (await s.execute(q)).all()
    return {
        session.channel_id: (session, guild if guild is not None or session.guild_id is None else _default_guild(session.guild_id))
        for session, guild in rows
    }


async def session_with_guild(
    db: Database, *, session_id: int | None = None, platform: str | None = None, channel_id: str | None = None
) -> tuple[Session | None, GuildSettings | None]:
    """A session (by id, or by platform and channel) and its guild's settings (the defaults
    for a guild never configured; None outside a guild), in one query."""
    q = select(Session, GuildSettings).outerjoin(GuildSettings, GuildSettings.guild_id == Session.guild_id)
    if session_id is not None:
        q = q.where(Session.id == session_id)
    else:
        q = q.where(Session.platform == platform, Session.channel_id == channel_id)
    async with db.session() as s:
        row = (await s.execute(q)).first()
    if row is None:
        return None, None
    session, guild = row
    if guild is None and session.guild_id is not None:
        guild = _default_guild(session.guild_id)
    return session, guild


# ----- turns and images -----


async def add_user_turn(db: Database, session_id: int, author_id: str, text: str) -> Turn:
    async with db.write() as s:
        turn = Turn(session_id=session_id, role="user", author_id=author_id, text=text)
        s.add(turn)
    return turn


async def get_turn(db: Database, turn_id: int) -> Turn | None:
    async with db.session() as s:
        return await s.get(Turn, turn_id)


async def add_image(
    db: Database,
    session_id: int,
    data_sha: str,
    size: int,
    width: int,
    height: int,
    fmt: str,
    turn_id: int,
    parent_number: int | None,
) -> Image:
    """Number the image (next #n of the session) and make it the current image."""
    async with db.write() as s:
        return await _add_image(s, session_id, data_sha, size, width, height, fmt, turn_id, parent_number)


async def _add_image(
    s: AsyncSession, session_id: int, data_sha: str, size: int, width: int, height: int, fmt: str,
    turn_id: int, parent_number: int | None,
) -> Image:
    (number,) = await _allocate_numbers(s, session_id, 1)
    session = await s.get(Session, session_id, populate_existing=True)
    image = Image(
        session_id=session_id, number=number, sha256=data_sha, size=size, width=width,
        height=height, format=fmt, turn_id=turn_id, parent_number=parent_number,
        replaced_number=session.current_image_number,
    )
    s.add(image)
    await _set_current(s, session_id, number)
    return image


async def session_images(db: Database, session_id: int) -> list[Image]:
    """Every image of the session, by number."""
    async with db.session() as s:
        q = select(Image).where(Image.session_id == session_id).order_by(Image.number)
        return list((await s.execute(q)).scalars())


async def get_image(db: Database, session_id: int, number: int) -> Image | None:
    async with db.session() as s:
        q = select(Image).where(Image.session_id == session_id, Image.number == number)
        return (await s.execute(q)).scalar_one_or_none()


async def dialogue(db: Database, session_id: int, limit: int) -> list[DialogueTurn]:
    """The last ``limit`` turns, oldest first, each with the image numbers it added. Turns
    of failed jobs (``error`` set) are left out."""
    async with db.session() as s:
        return await _dialogue(s, session_id, limit)


@dataclass(frozen=True)
class Upload:
    """An attachment already in the image store, to be numbered as a session image."""

    sha256: str
    size: int
    width: int
    height: int
    format: str


@dataclass
class TurnContext:
    """What deciding on a turn's job needs, read in the transaction that stores the turn."""

    session: Session
    guild: GuildSettings | None
    turn: Turn
    images: dict[int, str]  # number -> content address, every image of the session
    dialogue: list[DialogueTurn]  # the last turns up to this one (``dialogue_turns`` of them)
    active_jobs: int  # the author's queued or running jobs (earlier turns of the batch included)
    recent_jobs: int  # the author's jobs since ``add_turns(since=...)`` (idem)


@dataclass
class NewTurn:
    """A user turn to store. ``plan`` (if given) decides, inside the transaction, whether it
    gets a job: it returns the job's request (its ``job_id`` is filled in) or a refusal."""

    session_id: int
    author_id: str
    text: str
    uploads: list[Upload] = field(default_factory=list)
    plan: Callable[[TurnContext], "JobRequest | str"] | None = None
    dialogue_turns: int = 0


@dataclass
class StoredTurn:
    turn: Turn
    images: list[Image]
    job: Job | None = None
    refusal: str | None = None


async def add_turns(db: Database, items: list[NewTurn], since: datetime | None = None) -> list[StoredTurn]:
    """Store user turns (with their uploads) and queue the jobs their plans ask for, all in
    one transaction. The turns of one session are stored in list order; each plan sees its
    session as the turns before it in the list left it. ``since``: where the window of
    ``TurnContext.recent_jobs`` starts (None: all time)."""
    async with db.write() as s:
        now = utcnow()
        rows = [{"session_id": it.session_id, "role": "user", "author_id": it.author_id, "text": it.text,
                 "created_at": now} for it in items]
        ids = await _insert_many(s, Turn, rows, key=("session_id", "author_id", "text"))
        stored = [StoredTurn(Turn(id=turn_id, **row), []) for turn_id, row in zip(ids, rows)]
        for it, out in zip(items, stored):
            for up in it.uploads:
                out.images.append(await _add_image(
                    s, it.session_id, up.sha256, up.size, up.width, up.height, up.format, out.turn.id, None
                ))
        planned = [(it, out) for it, out in zip(items, stored) if it.plan is not None]
        if planned:
            await _plan_jobs(s, planned, since)
    return stored


async def _plan_jobs(s: AsyncSession, planned: list[tuple[NewTurn, StoredTurn]], since: datetime | None) -> None:
    session_ids = sorted({it.session_id for it, _ in planned})
    rows = (await s.execute(
        select(Session, GuildSettings)
        .outerjoin(GuildSettings, GuildSettings.guild_id == Session.guild_id)
        .where(Session.id.in_(session_ids))
        .execution_options(populate_existing=True)  # uploads above moved the current image
    )).all()
    sessions = {session.id: (session, guild) for session, guild in rows}

    users = sorted({it.author_id for it, _ in planned})
    recent = func.sum(case((Job.created_at >= since, 1), else_=0)) if since is not None else func.count(Job.id)
    counts = {
        user: [active or 0, n or 0]
        for user, active, n in (await s.execute(
            select(Job.user_id, func.sum(case((Job.status.in_(ACTIVE_JOB_STATUSES), 1), else_=0)), recent)
            .where(Job.user_id.in_(users))
            .group_by(Job.user_id)
        )).tuples()
    }

    images: dict[int, dict[int, str]] = {}
    for session_id, number, sha in (await s.execute(
        select(Image.session_id, Image.number, Image.sha256)
        .where(Image.session_id.in_(session_ids))
        .order_by(Image.number)
    )).tuples():
        images.setdefault(session_id, {})[number] = sha

    dialogues = await _dialogues(s, planned)

    jobs: list[tuple[NewTurn, StoredTurn, Any]] = []
    for it, out in planned:
        session, guild = sessions[it.session_id]
        if guild is None and session.guild_id is not None:
            guild = _default_guild(session.guild_id)
        active, recent_n = counts.setdefault(it.author_id, [0, 0])
        decision = it.plan(TurnContext(
            session=session, guild=guild, turn=out.turn, images=dict(images.get(it.session_id, {})),
            dialogue=dialogues[out.turn.id], active_jobs=active, recent_jobs=recent_n,
        ))
        if isinstance(decision, str):
            out.refusal = decision
            continue
        counts[it.author_id][0] += 1
        counts[it.author_id][1] += 1
        out.job = Job(session_id=it.session_id, turn_id=out.turn.id, user_id=it.author_id, status="queued", payload={})
        jobs.append((it, out, decision))
    if not jobs:
        return
    now = utcnow()
    rows = [{"session_id": job.session_id, "turn_id": job.turn_id, "user_id": job.user_id, "status": "queued",
             "payload": {}, "attempts": 0, "created_at": now, "available_at": now}
            for job in (out.job for _, out, _ in jobs)]
    ids = await _insert_many(s, Job, rows, key=("turn_id",))
    for (it, out, request), job_id, row in zip(jobs, ids, rows):
        out.job = Job(id=job_id, **row)
        out.job.payload = dataclasses.replace(request, job_id=job_id, session_id=it.session_id).to_dict()
    table = Job.__table__
    await (await s.connection()).execute(
        update(table).where(table.c.id == bindparam("job")).values(payload=bindparam("request")),
        [{"job": out.job.id, "request": out.job.payload} for _, out, _ in jobs],
    )


async def _insert_many(s: AsyncSession, model: type, rows: list[dict[str, Any]], key: tuple[str, ...]) -> list[int]:
    """Insert ``rows`` with one multi-row INSERT; their new ids, in the order of ``rows``.
    The order RETURNING gives rows back in is not guaranteed, so rows are matched by
    ``key``; rows equal in their key are interchangeable and take ids in ascending order."""
    table = model.__table__
    returned = (await s.execute(
        insert(table).values(rows).returning(table.c.id, *(table.c[k] for k in key))
    )).tuples().all()
    free: dict[tuple, list[int]] = {}
    for row_id, *values in sorted(returned):
        free.setdefault(tuple(values), []).append(row_id)
    return [free[tuple(row[k] for k in key)].pop(0) for row in rows]


async def _dialogues(s: AsyncSession, planned: list[tuple[NewTurn, StoredTurn]]) -> dict[int, list[DialogueTurn]]:
    """For each planned turn: the last ``dialogue_turns`` turns of its session up to it (in
    one query for all sessions, however many turns each has)."""
    per_session: dict[int, int] = {}
    for it, _ in planned:  # later turns of the batch are fetched too, then cut off below
        per_session[it.session_id] = per_session.get(it.session_id, 0) + max(it.dialogue_turns, 0)
    rank = func.row_number().over(partition_by=Turn.session_id, order_by=Turn.id.desc()).label("rank")
    ranked = (
        select(Turn.id, Turn.session_id, Turn.role, Turn.text, rank)
        .where(Turn.session_id.in_(list(per_session)), Turn.error.is_(None))
        .subquery()
    )
    deepest = max(per_session.values(), default=0)
    rows = (await s.execute(
        select(ranked.c.id, ranked.c.session_id, ranked.c.role, ranked.c.text)
        .where(ranked.c.rank <= deepest)
        .order_by(ranked.c.id)
    )).tuples().all() if deepest else []
    added: dict[int, list[int]] = {}
    if rows:
        for turn_id, number in (await s.execute(
            select(Image.turn_id, Image.number).where(Image.turn_id.in_([r[0] for r in rows])).order_by(Image.number)
        )).tuples():
            added.setdefault(turn_id, []).append(number)
    by_session: dict[int, list[tuple]] = {}
    for row in rows:
        by_session.setdefault(row[1], []).append(row)
    out: dict[int, list[DialogueTurn]] = {}
    for it, stored in planned:
        mine = [r for r in by_session.get(it.session_id, ()) if r[0] <= stored.turn.id]
        mine = mine[-it.dialogue_turns:] if it.dialogue_turns > 0 else []
        out[stored.turn.id] = [DialogueTurn(role=role, text=text, images=added.get(tid, [])) for tid, _, role, text in mine]
    return out


def image_info(store: ImageStore, sha: str) -> ImageInfo:
    """Size, dimensions and format of a stored image (reads only the file's header)."""
    from PIL import Image as PILImage

    path = store.path(sha)
    with PILImage.open(path) as img:
        return ImageInfo(path.stat().st_size, img.width, img.height, (img.format or path.suffix[1:]).lower())


# ----- jobs -----


RequestBuilder = Callable[[int], "JobRequest | Awaitable[JobRequest]"]


async def enqueue_job(
    db: Database, session_id: int, turn_id: int, user_id: str, request_builder: RequestBuilder
) -> Job:
    """Queue a job for ``turn_id``. In one transaction the job row is inserted (which gives
    its id), ``request_builder(job_id)`` (sync or async; it may read but must not write the
    database) builds the JobRequest, and the request is stored as the payload. Callers then
    wake the workers (``DbJobQueue.notify``)."""
    async with db.write() as s:
        job = Job(session_id=session_id, turn_id=turn_id, user_id=user_id, status="queued", payload={})
        s.add(job)
        await s.flush()
        request = request_builder(job.id)
        if inspect.isawaitable(request):
            request = await request
        if request.job_id != job.id or request.session_id != session_id:
            raise ValueError(
                f"request for job {request.job_id}/session {request.session_id} built for job {job.id}/session {session_id}"
            )
        job.payload = request.to_dict()
    return job


async def set_reply_message(db: Database, job_id: int, message_id: str) -> None:
    await set_reply_messages(db, [(job_id, message_id)])


async def set_reply_messages(db: Database, pairs: list[tuple[int, str]]) -> None:
    """Remember the status message of each job (job id, message id): one transaction."""
    if not pairs:
        return
    async with db.write() as s:
        conn = await s.connection()
        await conn.execute(
            update(Job.__table__).where(Job.__table__.c.id == bindparam("job"))
            .values(reply_message_id=bindparam("message")),
            [{"job": job_id, "message": message_id} for job_id, message_id in pairs],
        )


async def jobs_since(db: Database, user_id: str, since: datetime) -> int:
    """How many jobs the user has queued since ``since`` (any outcome: the daily quota)."""
    async with db.session() as s:
        q = select(func.count(Job.id)).where(Job.user_id == user_id, Job.created_at >= since)
        return (await s.execute(q)).scalar_one()


async def active_jobs_on(db: Database, platform: str) -> list[tuple[Job, Session]]:
    """Queued or running jobs of the platform's sessions, oldest first: what a restarted
    front end still has to report."""
    async with db.session() as s:
        q = (
            select(Job, Session)
            .join(Session, Session.id == Job.session_id)
            .where(Session.platform == platform, Job.status.in_(ACTIVE_JOB_STATUSES))
            .order_by(Job.id)
        )
        return [tuple(row) for row in (await s.execute(q)).all()]


async def job_for_turn(db: Database, turn_id: int) -> Job | None:
    """The job that produced an assistant turn."""
    async with db.session() as s:
        turn = await s.get(Turn, turn_id)
        return await s.get(Job, turn.job_id) if turn is not None and turn.job_id else None


async def get_job(db: Database, job_id: int) -> Job | None:
    async with db.session() as s:
        return await s.get(Job, job_id)


async def job_and_current_image(db: Database, job_id: int) -> tuple[Job | None, int | None]:
    """A job and its session's current image number, in one query."""
    async with db.session() as s:
        row = (await s.execute(
            select(Job, Session.current_image_number).join(Session, Session.id == Job.session_id).where(Job.id == job_id)
        )).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def active_jobs_for_user(db: Database, user_id: str) -> int:
    """How many of the user's jobs are queued or running."""
    async with db.session() as s:
        q = select(func.count(Job.id)).where(Job.user_id == user_id, Job.status.in_(ACTIVE_JOB_STATUSES))
        return (await s.execute(q)).scalar_one()


async def record_result(db: Database, job_id: int, result: JobResult, store: ImageStore) -> Recorded:
    """Store a finished job, all or nothing: the job becomes ``done`` (result JSON,
    finished_at); an assistant turn gets the reply and the executed intent; each of
    ``result.images`` (already in ``store``) becomes the session's next image, derived from
    ``result.parent_image``; the current image moves to the last new one, or as undo/revert
    say (see ``navigate``). ``job.result`` is ``result.to_dict()`` with the effective
    ``reply`` plus ``turn_id``, ``numbers`` (the new #n), ``current_image`` and ``notice``."""
    # A/B: every candidate's images are numbered (A's first); A's decide the current image.
    outputs = result.candidates or [result]
    all_images = [sha for c in outputs for sha in c.images]
    # File I/O, before the transaction (which holds the write lock) and off the event loop.
    infos = await asyncio.to_thread(lambda: [image_info(store, sha) for sha in all_images]) if all_images else []
    async with db.write() as s:
        job = await _finish_job(s, job_id, "done")
        turn = Turn(session_id=job.session_id, role="assistant", text=result.reply, job_id=job_id,
                    intent=result.intent, context=irpem_context(job.payload))
        s.add(turn)
        await s.flush()

        new_images: list[Image] = []
        notice = None
        session = await s.get(Session, job.session_id, populate_existing=True)
        candidates = None
        if all_images:
            numbers = await _allocate_numbers(s, job.session_id, len(all_images))
            parents = [c.parent_image for c in outputs for _ in c.images]
            for number, sha, info, parent in zip(numbers, all_images, infos, parents):
                image = Image(
                    session_id=job.session_id, number=number, sha256=sha, size=info.size,
                    width=info.width, height=info.height, format=info.format, turn_id=turn.id,
                    parent_number=parent,
                    replaced_number=session.current_image_number,
                )
                s.add(image)
                new_images.append(image)
            split = _split(numbers, [len(c.images) for c in outputs])
            current = split[0][-1] if split[0] else session.current_image_number
            if result.candidates:
                candidates = [{"intent": c.intent, "reply": c.reply, "numbers": n, "raw": _parsed(c.irpem_raw)}
                              for c, n in zip(outputs, split)]
        else:
            replaced = dict((await s.execute(
                select(Image.number, Image.replaced_number).where(Image.session_id == job.session_id)
            )).tuples().all())
            current, notice = navigate(result.intent, session.current_image_number, replaced)
            if result.candidates:
                candidates = [{"intent": c.intent, "reply": c.reply, "numbers": [], "raw": _parsed(c.irpem_raw)}
                              for c in outputs]
        await _set_current(s, job.session_id, current)
        if notice:
            turn.text = notice
        turn.candidates = candidates
        job.result = {
            **result.to_dict(),
            "reply": turn.text,
            "turn_id": turn.id,
            "numbers": [img.number for img in new_images],
            "current_image": current,
            "notice": notice,
            "candidates": [{**c, "images": o.images} for c, o in zip(candidates or [], outputs)],
        }
    return Recorded(turn=turn, images=new_images, current_image=current, notice=notice)


def irpem_context(payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's request the IRPEM read (``engine.irpem.pairs.PairContext``). The
    queue brings the payload up to date when the job is claimed, so at completion it holds
    the dialogue exactly as the IRPEM saw it."""
    return {
        "dialogue": payload.get("dialogue", []),
        "current_image": payload.get("current_image"),
        "enabled": payload.get("enabled"),
    }


def _parsed(raw: str) -> dict[str, Any] | None:
    """An IRPEM answer as it was produced (defaults not filled in): what training learns from."""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _split(items: list[int], sizes: list[int]) -> list[list[int]]:
    out, start = [], 0
    for size in sizes:
        out.append(items[start:start + size])
        start += size
    return out


async def choose_candidate(db: Database, turn_id: int, index: int) -> Turn:
    """Make candidate ``index`` (0 = A) of an A/B turn the answer the dialogue goes on from:
    the turn's intent and text become the candidate's, and its last image becomes current
    unless the conversation has moved to another image since."""
    async with db.write() as s:
        turn = await s.get(Turn, turn_id, populate_existing=True)
        if turn is None or not turn.candidates or not 0 <= index < len(turn.candidates):
            raise NotFound(f"turn {turn_id} has no candidate {index}")
        chosen = turn.candidates[index]
        turn.intent, turn.text = chosen["intent"], chosen["reply"]
        session = await s.get(Session, turn.session_id, populate_existing=True)
        shown = {n for c in turn.candidates for n in c["numbers"]}
        if chosen["numbers"] and (session.current_image_number in shown):
            await _set_current(s, turn.session_id, chosen["numbers"][-1])
    return turn


def navigate(intent: dict[str, Any], current: int | None, replaced: dict[int, int | None]) -> tuple[int | None, str | None]:
    """Where the current image goes for an intent that makes no image: ``undo`` goes back to
    the image that was current when the current one arrived (an edit's source, or the
    picture a new generation replaced), ``revert`` to ``params.image`` ("#n"). Returns the
    new current image and, when that cannot be done (nothing to undo, no such image), a
    notice for the user; the current image then stays. Other intents leave it as it is.
    ``replaced`` maps each image number of the session to the image it replaced."""
    name = intent.get("intent")
    if name == "undo":
        before = replaced.get(current) if current is not None else None
        if before is None:
            return current, NOTHING_TO_UNDO
        return before, None
    if name == "revert":
        ref = (intent.get("params") or {}).get("image")
        number = _image_number(ref)
        if number is None or number not in replaced:
            shown = f"#{number}" if number is not None else repr(ref)
            return current, f"There is no image {shown} in this conversation."
        return number, None
    return current, None


def _image_number(ref: Any) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    if isinstance(ref, str) and ref.lstrip("#").isdigit():
        return int(ref.lstrip("#"))
    return None


async def record_failure(db: Database, job_id: int, error: str) -> Turn:
    """The job failed for good: status ``failed`` with the error, and an assistant turn
    carrying it (such turns stay out of the dialogue the intent model reads)."""
    async with db.write() as s:
        job = await _finish_job(s, job_id, "failed", error=error)
        turn = Turn(session_id=job.session_id, role="assistant", text=error, error=error, job_id=job_id)
        s.add(turn)
    return turn


async def cancel_job(db: Database, job_id: int) -> bool:
    """Cancel a queued or running job (a running one stops at its next cancellation check,
    and whatever it delivers afterwards is dropped). False if it had already ended."""
    async with db.write() as s:
        res = await s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE_JOB_STATUSES))
            .values(status="cancelled", finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1


# ----- feedback -----


async def set_vote(
    db: Database,
    turn_id: int,
    user_id: str,
    kind: str,
    *,
    candidate: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Feedback:
    """Record a user's feedback on a turn. Kinds of one group (👍/👎; A/B/neither;
    correction) replace each other: one row per (turn, user, group), updated in place."""
    group = FEEDBACK_GROUPS.get(kind)
    if group is None:
        raise ValueError(f"unknown feedback kind {kind!r} (one of {', '.join(FEEDBACK_GROUPS)})")
    for attempt in range(2):
        try:
            async with db.write() as s:
                q = select(Feedback).where(
                    Feedback.turn_id == turn_id, Feedback.user_id == user_id, Feedback.kind_group == group
                )
                row = (await s.execute(q)).scalar_one_or_none()
                if row is None:
                    row = Feedback(turn_id=turn_id, user_id=user_id, kind=kind, kind_group=group,
                                   candidate=candidate, payload=payload)
                    s.add(row)
                else:
                    row.kind, row.candidate, row.payload = kind, candidate, payload
                    row.updated_at = utcnow()
            return row
        except IntegrityError:
            if attempt:  # not a lost race: e.g. the turn does not exist
                raise
    raise AssertionError("unreachable")


async def feedback_for_turn(db: Database, turn_id: int) -> list[Feedback]:
    async with db.session() as s:
        q = select(Feedback).where(Feedback.turn_id == turn_id).order_by(Feedback.id)
        return list((await s.execute(q)).scalars())


# ----- guild settings -----

GUILD_FIELDS = ("enabled_pipelines", "pipeline_overrides", "limits", "who_can_talk", "ab_probability")


async def guild_settings(db: Database, guild_id: str) -> GuildSettings:
    """The guild's settings; a guild never configured gets the defaults (not stored)."""
    async with db.session() as s:
        row = await s.get(GuildSettings, guild_id)
    return row if row is not None else _default_guild(guild_id)


async def update_guild_settings(db: Database, guild_id: str, **changes: Any) -> GuildSettings:
    """Change some of ``GUILD_FIELDS`` (``enabled_pipelines=None`` restores the defaults)."""
    unknown = set(changes) - set(GUILD_FIELDS)
    if unknown:
        raise ValueError(f"unknown guild setting(s): {', '.join(sorted(unknown))}")
    if "who_can_talk" in changes and changes["who_can_talk"] not in WHO_CAN_TALK:
        raise ValueError(f"who_can_talk must be one of {WHO_CAN_TALK}")
    if "ab_probability" in changes and not 0.0 <= float(changes["ab_probability"]) <= 1.0:
        raise ValueError("ab_probability must be between 0 and 1")
    async with db.write() as s:
        row = await s.get(GuildSettings, guild_id)
        if row is None:
            row = _default_guild(guild_id)
            s.add(row)
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    return row


def _default_guild(guild_id: str) -> GuildSettings:
    return GuildSettings(
        guild_id=guild_id, enabled_pipelines=None, pipeline_overrides={}, limits={},
        who_can_talk="owner", ab_probability=0.0, updated_at=utcnow(),
    )


# ----- helpers shared with the job queue (they run inside the caller's transaction) -----


async def _allocate_numbers(s: AsyncSession, session_id: int, count: int) -> list[int]:
    res = await s.execute(
        update(Session)
        .where(Session.id == session_id)
        .values(image_count=Session.image_count + count)
        .returning(Session.image_count)
        .execution_options(synchronize_session=False)
    )
    last = res.scalar_one_or_none()
    if last is None:
        raise NotFound(f"there is no session {session_id}")
    return list(range(last - count + 1, last + 1))


async def _set_current(s: AsyncSession, session_id: int, number: int | None) -> None:
    await s.execute(
        update(Session)
        .where(Session.id == session_id)
        .values(current_image_number=number)
        .execution_options(synchronize_session=False)
    )


async def _finish_job(s: AsyncSession, job_id: int, status: str, error: str | None = None) -> Job:
    """Move a queued/running job to a final status (guarded, so it happens once)."""
    res = await s.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE_JOB_STATUSES))
        .values(status=status, finished_at=utcnow(), error=error)
        .execution_options(synchronize_session=False)
    )
    job = await s.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"there is no job {job_id}")
    if res.rowcount != 1:
        raise JobStateError(f"job {job_id} has already ended ({job.status})")
    return job


def _window(job: Job | None):
    """Turns visible to ``job``: up to its user turn, plus the replies to earlier jobs (which
    may have been stored after it). None: every turn."""
    if job is None:
        return true()
    return or_(Turn.id <= job.turn_id, and_(Turn.role == "assistant", Turn.job_id < job.id))


async def _dialogue(s: AsyncSession, session_id: int, limit: int, before_job: Job | None = None) -> list[DialogueTurn]:
    if limit <= 0:
        return []
    q = (
        select(Turn)
        .where(Turn.session_id == session_id, Turn.error.is_(None), _window(before_job))
        .order_by(Turn.id.desc())
        .limit(limit)
    )
    turns = list((await s.execute(q)).scalars())[::-1]
    added: dict[int, list[int]] = {}
    if turns:
        rows = await s.execute(
            select(Image.turn_id, Image.number)
            .where(Image.turn_id.in_([t.id for t in turns]))
            .order_by(Image.number)
        )
        for turn_id, number in rows:
            added.setdefault(turn_id, []).append(number)
    return [DialogueTurn(role=t.role, text=t.text, images=added.get(t.id, [])) for t in turns]
