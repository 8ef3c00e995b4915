"""Job rows: what a job is to do, how it ended, and the front end's message that shows it.
Persistence only; ``jobqueue.DbJobQueue`` hands the jobs to workers.

Job state moves only forward: a result or failure is recorded once, for a job still queued
or running; anything else raises ``JobStateError`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.models import Image, Job, Session, Turn, utcnow
from bot.store.sessions import ACTIVE_JOB_STATUSES, NotFound, StoredImage, locked_session
from engine.queue import JobResult
from engine.session import Candidate


class JobStateError(RuntimeError):
    """The job has already ended (done, failed or cancelled); nothing was recorded."""


@dataclass
class StoredResult:
    """A finished job as the store keeps it (``Job.result``): the answer as executed, the
    assistant turn it became, the images it added and where the current image went."""

    intent: dict[str, Any] | None
    reply: str  # what the user reads (a notice when undo/revert could not be done)
    turn_id: int | None = None  # the assistant turn
    numbers: list[int] = field(default_factory=list)  # the new images (#n), every candidate's
    images: list[str] = field(default_factory=list)  # their content addresses, in that order
    parent_image: int | None = None  # the image an edit started from
    current_image: int | None = None  # the session's current image afterwards
    notice: str | None = None  # set when undo/revert could not be done
    irpem_raw: str = ""  # exactly what the IRPEM wrote, for preference pairs
    timings: dict[str, float] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)  # A/B turns: A, B

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["candidates"] = [c.to_dict() for c in self.candidates]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StoredResult:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["candidates"] = [Candidate.from_dict(c) for c in d.get("candidates") or []]
        return cls(**known)

    @property
    def addresses(self) -> dict[int, str]:
        return dict(zip(self.numbers, self.images))


@dataclass
class Recorded:
    """What ``record_result`` stored."""

    turn: Turn  # the assistant turn (its text is the reply the user should see)
    images: list[Image]  # the new images, in order
    result: StoredResult

    @property
    def current_image(self) -> int | None:
        return self.result.current_image

    @property
    def notice(self) -> str | None:
        return self.result.notice


async def get_job(db: Database, job_id: int) -> Job | None:
    async with db.session() as s:
        return await s.get(Job, job_id)


async def job_with_session(db: Database, job_id: int) -> tuple[Job, Session]:
    """A job and its session, in one query; NotFound if there is no such job."""
    async with db.session() as s:
        row = (
            await s.execute(select(Job, Session).join(Session, Session.id == Job.session_id).where(Job.id == job_id))
        ).first()
    if row is None:
        raise NotFound(f"there is no job {job_id}")
    return row[0], row[1]


async def record_result(db: Database, job_id: int, result: JobResult, store: ImageStore) -> Recorded:
    """Store a finished job, all or nothing: the job becomes ``done``; an assistant turn gets
    the reply and the executed intent; each new image (already in ``store``) is numbered,
    derived from its candidate's ``parent_image``; and the current image moves as
    ``engine.session`` says (the new images, or undo/revert)."""
    outputs = result.candidates or [result]
    shas = [sha for c in outputs for sha in c.images]
    # File I/O, before the transaction (which holds the write lock) and off the event loop.
    files = await asyncio.to_thread(lambda: [stored_image(store, sha) for sha in shas]) if shas else []
    async with db.write() as s:
        job = await _finish_job(s, job_id, "done")
        turn = Turn(
            session_id=job.session_id,
            role="assistant",
            text=result.reply,
            job_id=job_id,
            intent=result.intent,
            context=irpem_context(job.payload),
        )
        s.add(turn)
        await s.flush()
        session = await locked_session(s, job.session_id)
        notice = None
        if shas:
            state, groups = session.images.add_shown([len(c.images) for c in outputs])
        else:
            moved = session.images.apply(result.intent)
            state, groups, notice = moved.state, [[] for _ in outputs], moved.notice
        session.images = state
        new_images: list[Image] = []
        for c, numbers in zip(outputs, groups):
            for number in numbers:
                image = files[len(new_images)].row(job.session_id, number, turn.id, c.parent_image)
                s.add(image)
                new_images.append(image)
        candidates = (
            [
                Candidate(c.intent, c.reply, tuple(numbers), parsed_answer(c.irpem_raw))
                for c, numbers in zip(outputs, groups)
            ]
            if result.candidates
            else []
        )
        if notice:
            turn.text = notice
        if candidates:
            turn.candidates, turn.chosen = [c.to_dict() for c in candidates], 0
        stored = StoredResult(
            intent=result.intent,
            reply=turn.text,
            turn_id=turn.id,
            numbers=[img.number for img in new_images],
            images=shas,
            parent_image=result.parent_image,
            current_image=state.current,
            notice=notice,
            irpem_raw=result.irpem_raw,
            timings=result.timings,
            candidates=candidates,
        )
        job.result = stored.to_dict()
    return Recorded(turn=turn, images=new_images, result=stored)


def irpem_context(payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's request the IRPEM read (``engine.irpem.pairs.PairContext``), kept
    on the assistant turn so feedback on it becomes a training pair."""
    return {
        "dialogue": payload.get("dialogue", []),
        "current_image": payload.get("current_image"),
        "enabled": payload.get("enabled"),
    }


def parsed_answer(raw: str) -> dict[str, Any] | None:
    """An IRPEM answer as it was produced (defaults not filled in): what training learns from."""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def stored_image(store: ImageStore, sha: str) -> StoredImage:
    """A stored image with its size, dimensions and format (reads only the file's header)."""
    from PIL import Image as PILImage

    path = store.path(sha)
    with PILImage.open(path) as img:
        return StoredImage(sha, path.stat().st_size, img.width, img.height, (img.format or path.suffix[1:]).lower())


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


# ----- the front end's status messages -----


async def set_reply_messages(db: Database, pairs: list[tuple[int, str]]) -> None:
    """Remember the status message of each job (job id, message id): one transaction."""
    if not pairs:
        return
    async with db.write() as s:
        conn = await s.connection()
        await conn.execute(
            update(Job.__table__)
            .where(Job.__table__.c.id == bindparam("job"))
            .values(reply_message_id=bindparam("message")),
            [{"job": job_id, "message": message_id} for job_id, message_id in pairs],
        )


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
