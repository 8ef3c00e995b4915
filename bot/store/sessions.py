"""Sessions, their turns and their images: persistence only.

Each function is one short transaction on ``db``; the rows it returns stay readable
afterwards (the session factory does not expire them) but are detached. What a change
*means* (which number an image gets, where undo goes, which job a turn earns) is decided by
``engine.session``; these functions read the state it needs and write what it returns, in
one transaction, with the session row locked (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer at a time anyway).

``add_turns`` is the one write path for user turns: it takes many at once (group commit,
``bot.batching``), because under a burst the cost of a transaction, and the wait for
SQLite's one writer, is better paid once per batch than once per turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.db import Database
from bot.store.guilds import default_guild
from bot.store.models import GuildSettings, Image, Job, Session, Turn, utcnow
from engine.queue import DialogueTurn
from engine.session import Answer, Candidate, ImageState, JobOrder, Ticket, admit

ACTIVE_JOB_STATUSES = ("queued", "running")


class NotFound(LookupError):
    """A session, turn or job that does not exist."""


# ----- sessions -----


async def open_session(
    db: Database, platform: str, channel_id: str | None, owner_id: str, guild_id: str | None = None
) -> Session:
    """The session of ``(platform, channel_id)``, created if there is none. A session without
    a channel (a terminal conversation) is always new."""
    if channel_id is not None:
        found = (await sessions_by_channel(db, platform, [channel_id])).get(channel_id)
        if found is not None:
            return found[0]
    try:
        async with db.write() as s:
            session = Session(platform=platform, channel_id=channel_id, owner_id=owner_id, guild_id=guild_id)
            s.add(session)
        return session
    except IntegrityError:
        # Another writer created it between our look-up and insert.
        found = (await sessions_by_channel(db, platform, [channel_id])).get(channel_id) if channel_id else None
        if found is None:
            raise
        return found[0]


async def sessions_by_channel(
    db: Database, platform: str, channel_ids: list[str]
) -> dict[str, tuple[Session, GuildSettings | None]]:
    """The sessions of many channels of a platform, each with its server's settings (the
    defaults for a server never configured; None outside a server), in one query;
    channels without a session are left out."""
    q = (
        select(Session, GuildSettings)
        .outerjoin(GuildSettings, GuildSettings.guild_id == Session.guild_id)
        .where(Session.platform == platform, Session.channel_id.in_(sorted(set(channel_ids))))
    )
    async with db.session() as s:
        rows = (await s.execute(q)).all()
    return {session.channel_id: (session, _guild(session, guild)) for session, guild in rows}


async def session_with_guild(db: Database, session_id: int) -> tuple[Session, GuildSettings | None]:
    """A session and its server's settings; NotFound if there is no such session."""
    q = (
        select(Session, GuildSettings)
        .outerjoin(GuildSettings, GuildSettings.guild_id == Session.guild_id)
        .where(Session.id == session_id)
    )
    async with db.session() as s:
        row = (await s.execute(q)).first()
    if row is None:
        raise NotFound(f"there is no session {session_id}")
    return row[0], _guild(row[0], row[1])


def _guild(session: Session, guild: GuildSettings | None) -> GuildSettings | None:
    if guild is None and session.guild_id is not None:
        return default_guild(session.guild_id)
    return guild


async def _locked_sessions(s: AsyncSession, session_ids: list[int]) -> dict[int, Session]:
    rows = await s.execute(
        select(Session).where(Session.id.in_(session_ids)).with_for_update().execution_options(populate_existing=True)
    )
    return {session.id: session for session in rows.scalars()}


async def locked_session(s: AsyncSession, session_id: int) -> Session:
    """The session row, locked for this transaction, as the database has it now."""
    session = (await _locked_sessions(s, [session_id])).get(session_id)
    if session is None:
        raise NotFound(f"there is no session {session_id}")
    return session


# ----- user turns: the one write path -----


@dataclass(frozen=True)
class StoredImage:
    """An image file already in the image store (an upload, or a job's output), to be
    numbered as a session image."""

    sha256: str
    size: int
    width: int
    height: int
    format: str

    def row(self, session_id: int, number: int, turn_id: int, parent: int | None = None) -> Image:
        return Image(
            session_id=session_id,
            number=number,
            sha256=self.sha256,
            size=self.size,
            width=self.width,
            height=self.height,
            format=self.format,
            turn_id=turn_id,
            parent_number=parent,
        )


@dataclass
class NewTurn:
    """A user turn to store, with its accepted uploads; ``ticket`` asks for a job (None:
    the turn was refused before and is only kept)."""

    session_id: int
    author_id: str
    text: str
    uploads: list[StoredImage] = field(default_factory=list)
    ticket: Ticket | None = None


@dataclass
class StoredTurn:
    turn: Turn
    images: list[Image]
    job: Job | None = None
    refusal: str | None = None  # why the ticket earned no job


async def add_turns(db: Database, items: list[NewTurn], since: datetime) -> list[StoredTurn]:
    """Store user turns (numbering their uploads) and queue the jobs their tickets earn
    (``engine.session.admit``, on the counts read in this transaction, so two turns at once
    cannot both slip under a limit), all in one transaction. The turns of one session are
    stored in list order. ``since``: where the daily quota's window starts."""
    async with db.write() as s:
        now = utcnow()
        rows = [
            {"session_id": it.session_id, "role": "user", "author_id": it.author_id, "text": it.text, "created_at": now}
            for it in items
        ]
        ids = await _insert_many(s, Turn, rows, key=("session_id", "author_id", "text"))
        stored = [StoredTurn(Turn(id=turn_id, **row), []) for turn_id, row in zip(ids, rows)]
        sessions = await _locked_sessions(s, sorted({it.session_id for it in items}))
        missing = {it.session_id for it in items} - set(sessions)
        if missing:
            raise NotFound(f"there is no session {min(missing)}")
        for it, out in zip(items, stored):
            if not it.uploads:
                continue
            session = sessions[it.session_id]
            state, numbers = session.images.add(len(it.uploads))
            session.images = state
            for number, up in zip(numbers, it.uploads):
                image = up.row(it.session_id, number, out.turn.id)
                s.add(image)
                out.images.append(image)
        ticketed = [(it, out) for it, out in zip(items, stored) if it.ticket is not None]
        if ticketed:
            await _admit_jobs(s, ticketed, sessions, since)
    return stored


async def _admit_jobs(
    s: AsyncSession, ticketed: list[tuple[NewTurn, StoredTurn]], sessions: dict[int, Session], since: datetime
) -> None:
    guild_ids = sorted({sessions[it.session_id].guild_id for it, _ in ticketed} - {None})
    guilds = {
        g.guild_id: g
        for g in (await s.execute(select(GuildSettings).where(GuildSettings.guild_id.in_(guild_ids)))).scalars()
    }
    users = sorted({it.author_id for it, _ in ticketed})
    counts = {
        user: [active or 0, recent or 0]
        for user, active, recent in (
            await s.execute(
                select(
                    Job.user_id,
                    func.sum(case((Job.status.in_(ACTIVE_JOB_STATUSES), 1), else_=0)),
                    func.sum(case((Job.created_at >= since, 1), else_=0)),
                )
                .where(Job.user_id.in_(users))
                .group_by(Job.user_id)
            )
        ).tuples()
    }
    admitted: list[tuple[StoredTurn, JobOrder]] = []
    for it, out in ticketed:
        session = sessions[it.session_id]
        guild = guilds.get(session.guild_id) or _guild(session, None)
        active, recent = counts.setdefault(it.author_id, [0, 0])
        decision = admit(it.ticket, guild, active, recent)
        if isinstance(decision, str):
            out.refusal = decision
            continue
        counts[it.author_id][0] += 1  # the next turns of the batch see this job
        counts[it.author_id][1] += 1
        admitted.append((out, decision))
    if not admitted:
        return
    now = utcnow()
    rows = [
        {
            "session_id": out.turn.session_id,
            "turn_id": out.turn.id,
            "user_id": out.turn.author_id,
            "status": "queued",
            "payload": order.to_dict(),
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        }
        for out, order in admitted
    ]
    ids = await _insert_many(s, Job, rows, key=("turn_id",))
    for (out, _), job_id, row in zip(admitted, ids, rows):
        out.job = Job(id=job_id, **row)


async def _insert_many(s: AsyncSession, model: type, rows: list[dict], key: tuple[str, ...]) -> list[int]:
    """Insert ``rows`` with one multi-row INSERT; their new ids, in the order of ``rows``.
    The order RETURNING gives rows back in is not guaranteed, so rows are matched by
    ``key``; rows equal in their key are interchangeable and take ids in ascending order."""
    table = model.__table__
    returned = (
        (await s.execute(insert(table).values(rows).returning(table.c.id, *(table.c[k] for k in key)))).tuples().all()
    )
    free: dict[tuple, list[int]] = {}
    for row_id, *values in sorted(returned):
        free.setdefault(tuple(values), []).append(row_id)
    return [free[tuple(row[k] for k in key)].pop(0) for row in rows]


# ----- reading turns and images -----


async def session_images(db: Database, session_id: int) -> list[Image]:
    """Every image of the session, by number."""
    async with db.session() as s:
        q = select(Image).where(Image.session_id == session_id).order_by(Image.number)
        return list((await s.execute(q)).scalars())


async def answer(db: Database, turn_id: int) -> tuple[Turn, Answer] | None:
    """An assistant turn and what its buttons act on (``engine.session.Answer``): the intent
    and images of its chosen candidate (A/B) or its own."""
    async with db.session() as s:
        turn = await s.get(Turn, turn_id)
        if turn is None or turn.role != "assistant":
            return None
        return turn, await _answer(s, turn)


async def _answer(s: AsyncSession, turn: Turn) -> Answer:
    images = list((await s.execute(select(Image).where(Image.turn_id == turn.id).order_by(Image.number))).scalars())
    numbers = [img.number for img in images]
    if turn.candidates:
        numbers = list(Candidate.from_dict(turn.candidates[turn.chosen or 0]).numbers)
    parents = {img.number: img.parent_number for img in images}
    return Answer(turn.intent, tuple(numbers), parents.get(numbers[0]) if numbers else None)


async def latest_answer(
    db: Database, session_id: int, *, image: int | None = None, choice: bool = False
) -> tuple[Turn, Answer] | None:
    """The session's latest assistant turn that was not an error; with ``image``, the one
    that made that image; with ``choice``, the latest A/B turn."""
    async with db.session() as s:
        q = select(Turn).where(Turn.session_id == session_id, Turn.role == "assistant", Turn.error.is_(None))
        if image is not None:
            q = q.join(Image, Image.turn_id == Turn.id).where(Image.session_id == session_id, Image.number == image)
        if choice:
            q = q.where(Turn.candidates.is_not(None))
        turn = (await s.execute(q.order_by(Turn.id.desc()).limit(1))).scalar_one_or_none()
        if turn is None:
            return None
        return turn, await _answer(s, turn)


async def choose_candidate(db: Database, turn_id: int, index: int) -> tuple[Turn, ImageState]:
    """Make candidate ``index`` (0 = A) of an A/B turn the answer the dialogue goes on from:
    the turn's intent and text become the candidate's, and the current image moves as
    ``ImageState.choose`` says. Returns the turn and the session's images afterwards."""
    async with db.write() as s:
        turn = await s.get(Turn, turn_id, populate_existing=True)
        if turn is None or not turn.candidates or not 0 <= index < len(turn.candidates):
            raise NotFound(f"turn {turn_id} has no candidate {index}")
        candidates = [Candidate.from_dict(c) for c in turn.candidates]
        chosen = candidates[index]
        turn.intent, turn.text, turn.chosen = chosen.intent, chosen.reply, index
        session = await locked_session(s, turn.session_id)
        session.images = session.images.choose([n for c in candidates for n in c.numbers], chosen.numbers)
        state = session.images
    return turn, state


# ----- the dialogue a job reads -----


def visible_to(job: Job):
    """Turns a job's intent model reads: up to its user turn, plus the replies to earlier
    jobs of the session (stored after its turn while it waited for them)."""
    return or_(Turn.id <= job.turn_id, and_(Turn.role == "assistant", Turn.job_id < job.id))


async def job_context(
    s: AsyncSession, job: Job, dialogue_turns: int
) -> tuple[list[DialogueTurn], dict[int, str], int | None]:
    """What a job's request carries, read inside the transaction that claims it: the last
    ``dialogue_turns`` turns up to its own plus the replies stored since (failed jobs'
    turns left out), the images it can see (number -> content address), and the image it
    defaults to (the latest current image it can see)."""
    window = visible_to(job)
    newer = (
        await s.execute(
            select(func.count(Turn.id)).where(
                Turn.session_id == job.session_id, Turn.error.is_(None), Turn.id > job.turn_id, window
            )
        )
    ).scalar_one()
    limit = max(dialogue_turns, 0) + newer
    turns = (
        list(
            (
                await s.execute(
                    select(Turn)
                    .where(Turn.session_id == job.session_id, Turn.error.is_(None), window)
                    .order_by(Turn.id.desc())
                    .limit(limit)
                )
            ).scalars()
        )[::-1]
        if dialogue_turns > 0
        else []
    )
    visible = select(Turn.id).where(Turn.session_id == job.session_id, window)
    refs: dict[int, str] = {}
    added: dict[int, list[int]] = {}
    for number, sha, turn_id in (
        await s.execute(
            select(Image.number, Image.sha256, Image.turn_id)
            .where(Image.session_id == job.session_id, Image.turn_id.in_(visible))
            .order_by(Image.number)
        )
    ).tuples():
        refs[number] = sha
        added.setdefault(turn_id, []).append(number)
    dialogue = [DialogueTurn(role=t.role, text=t.text, images=added.get(t.id, [])) for t in turns]
    session = await s.get(Session, job.session_id, populate_existing=True)
    seen = [n for n in session.images.history if n in refs]
    current = seen[-1] if seen else max(refs, default=None)
    return dialogue, refs, current
