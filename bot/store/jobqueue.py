"""The database-backed job queue of the embedded default (implements ``engine.queue.JobQueue``).

Jobs live in the ``jobs`` table, so a restart loses none: ``recover()`` puts back what a dead
process left running. Claiming is one guarded ``UPDATE ... WHERE status = 'queued'``, so any
number of claimers (tasks, processes) on one database never take the same job.

Which job is next:
- a job runs only after every earlier job of its session has ended (a thread's requests
  are answered in order, each seeing the images the previous one made);
- among the runnable jobs, the user served least recently goes first (round-robin), then the
  oldest job: a user who queues ten requests cannot starve the others.

Because requests of one session wait for each other, a job's request is built when it is
first claimed (``build_request``), once: it then sees the images and the replies of the jobs
that ran before it, which did not exist yet when its turn was stored. A retry runs the same
request again.

Progress events are in-process only: ``subscribe(job_id)`` gives an ``asyncio.Queue`` that
receives every ``ProgressEvent`` of the job reported through this object, a "finished"
event when the job ends here, and, while it waits, a "queued" event whenever its position
changes. The job's status (``jobs.get_job``) is the truth, and the only signal when a
remote worker ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.store import jobs
from bot.store.db import Database
from bot.store.images import ImageStore
from bot.store.models import Job, utcnow
from bot.store.sessions import job_context
from engine.queue import JobRequest, JobResult, ProgressEvent
from engine.session import JobOrder

log = logging.getLogger(__name__)

CLAIM_TRIES = 20  # lost races in a row before claim() gives up for this round
SUBSCRIBER_BUFFER = 256  # events kept per subscriber that is not reading (oldest dropped)
SPENT = "This request failed {attempts} time(s) in a row and was given up."


class DbJobQueue:
    def __init__(
        self,
        db: Database,
        images: ImageStore,
        max_attempts: int = 3,
        *,
        retry_delay: float = 0.0,
        position_interval: float = 1.0,
        dialogue_turns: int = 8,
    ) -> None:
        """``max_attempts``: runs a job gets in all (retries and recoveries included);
        ``retry_delay``: seconds a retried job waits before it can be claimed again;
        ``position_interval``: how often waiting subscribers may hear a new queue position;
        ``dialogue_turns``: how many turns up to a job's own its request carries."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.db = db
        self.images = images
        self.dialogue_turns = dialogue_turns
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.position_interval = position_interval
        # True when a worker of this process serves this queue (and nothing else does): every
        # end of a job is then announced by a "finished" event, so waiters need not poll.
        self.local_worker = False
        self._wakeup = asyncio.Event()
        self._subscribers: dict[int, set[asyncio.Queue[ProgressEvent]]] = {}
        self._changes = 0  # bumped whenever the queued set or the claim order may have moved
        self._asks = 0  # queue_positions() calls so far
        self._positions: tuple[int, dict[int, int]] = (0, {})  # (asks seen at start, positions)
        self._positions_task: asyncio.Task | None = None
        self._announcer: asyncio.Task | None = None
        self._announced: dict[int, int] = {}  # job -> position last sent to its subscribers
        # The last event of each unfinished job, replayed to a late subscriber: a front end
        # subscribes after posting its status message, and a job that started running
        # meanwhile would otherwise keep showing "queued" until its next report.
        self._latest: dict[int, ProgressEvent] = {}

    # ----- waking workers -----

    def notify(self) -> None:
        """A job may be ready (call after enqueueing): wakes ``wait_for_work``."""
        self._changes += 1
        self._wakeup.set()

    async def wait_for_work(self, timeout: float) -> None:
        """Return on ``notify()`` or after ``timeout`` seconds (the polling fallback that
        finds jobs queued by other processes)."""
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            pass
        self._wakeup.clear()

    # ----- claiming -----

    async def claim(self, worker_id: str) -> JobRequest | None:
        """Mark the next runnable job running (attempts + 1) and return its request."""
        for _ in range(CLAIM_TRIES):
            async with self.db.write() as s:
                job_id = (await s.execute(_next_job_query())).scalar_one_or_none()
                if job_id is None:
                    return None
                other = aliased(Job)
                res = await s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(
                        status="running",
                        attempts=Job.attempts + 1,
                        started_at=utcnow(),
                        worker_id=worker_id,
                        claim_seq=select(func.coalesce(func.max(other.claim_seq), 0) + 1).scalar_subquery(),
                    )
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:
                    continue  # another claimer took it first
                job = await s.get(Job, job_id, populate_existing=True)
                try:
                    request = await build_request(s, job, self.dialogue_turns)
                except Exception as err:  # noqa: BLE001 - a bad payload must not jam the queue
                    log.exception("job %s has an unreadable request", job_id)
                    bad = (job_id, f"This request could not be read ({err.__class__.__name__}).")
                else:
                    job.payload = request.to_dict()
                    self._changes += 1
                    return request
            await jobs.record_failure(self.db, *bad)
        return None

    async def queue_position(self, job_id: int) -> int | None:
        """1 = next to be claimed; None if the job is not queued. An estimate: it follows the
        claim order over the jobs queued now, ignoring retry delays and running sessions."""
        return (await self.queue_positions()).get(job_id)

    async def queue_positions(self) -> dict[int, int]:
        """The position of every queued job. Callers that ask at the same time share one
        computation, begun after they asked: a burst of turns reads the queue a few times,
        not once per turn."""
        self._asks += 1
        wanted = self._asks
        while self._positions[0] < wanted:
            if self._positions_task is None or self._positions_task.done():
                self._positions_task = asyncio.create_task(self._compute_positions())
            await asyncio.shield(self._positions_task)
        return self._positions[1]

    async def _compute_positions(self) -> None:
        asks = self._asks
        async with self.db.session() as s:
            queued = (
                (
                    await s.execute(
                        select(Job.id, Job.user_id, Job.session_id).where(Job.status == "queued").order_by(Job.id)
                    )
                )
                .tuples()
                .all()
            )
            last = (
                dict(
                    (
                        await s.execute(
                            select(Job.user_id, func.max(Job.claim_seq))
                            .where(Job.claim_seq.is_not(None))
                            .group_by(Job.user_id)
                        )
                    )
                    .tuples()
                    .all()
                )
                if queued
                else {}
            )
        self._positions = (asks, claim_order(queued, last))

    # ----- images -----

    async def get_image(self, ref: str) -> bytes:
        return await asyncio.to_thread(self.images.get, ref)

    async def put_image(self, data: bytes) -> str:
        return await asyncio.to_thread(self.images.put, data, None)

    # ----- progress and cancellation -----

    async def progress(self, event: ProgressEvent) -> None:
        if event.stage == "finished":
            self._latest.pop(event.job_id, None)
        else:
            self._latest[event.job_id] = event
        for queue in list(self._subscribers.get(event.job_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: int) -> AsyncIterator[asyncio.Queue[ProgressEvent]]:
        """``async with queue.subscribe(job_id) as events: event = await events.get()``"""
        events: asyncio.Queue[ProgressEvent] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
        self._subscribers.setdefault(job_id, set()).add(events)
        if job_id in self._latest:
            events.put_nowait(self._latest[job_id])
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.create_task(self._announce_positions(), name="queue-positions")
        try:
            yield events
        finally:
            subs = self._subscribers.get(job_id)
            if subs is not None:
                subs.discard(events)
                if not subs:
                    del self._subscribers[job_id]
                    self._announced.pop(job_id, None)

    async def _announce_positions(self) -> None:
        """While anyone listens: when the queue has moved (or, with workers elsewhere, every
        interval), one look at the queue for all listeners; each waiting job whose position
        changed gets a "queued" event. The interval throttles it; the work per look grows
        with the queue, not with the number of listeners times the queue."""
        seen = -1
        next_at = time.monotonic()
        while self._subscribers:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at = time.monotonic() + self.position_interval
            if self._changes == seen and self.local_worker:
                continue
            seen = self._changes
            try:
                positions = await self.queue_positions()
            except Exception:  # noqa: BLE001 - a missed update is not worth a crash
                log.exception("could not read the queue positions")
                continue
            for job_id in list(self._subscribers):
                position = positions.get(job_id)
                if position is not None and self._announced.get(job_id) != position:
                    self._announced[job_id] = position
                    await self.progress(ProgressEvent(job_id, "queued", position=position))

    async def is_cancelled(self, job_id: int) -> bool:
        job = await jobs.get_job(self.db, job_id)
        return job is None or job.status == "cancelled"

    # ----- outcomes -----

    async def complete(self, job_id: int, result: JobResult) -> jobs.Recorded | None:
        """Record the result (``jobs.record_result``). A job that ended meanwhile
        (cancelled, or given up) keeps its state and the result is dropped: None."""
        try:
            return await jobs.record_result(self.db, job_id, result, self.images)
        except jobs.JobStateError as err:
            log.info("result of job %s dropped: %s", job_id, err)
            return None
        finally:
            await self._finished(job_id)

    async def fail(self, job_id: int, error: str, retry: bool = False) -> None:
        """``retry``: back to the queue while attempts remain; otherwise (or when spent) the
        job fails with ``error``. A job that has ended meanwhile is left as it is."""
        if retry:
            async with self.db.write() as s:
                res = await s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "running", Job.attempts < self.max_attempts)
                    .values(
                        status="queued",
                        error=error,
                        worker_id=None,
                        available_at=utcnow() + timedelta(seconds=self.retry_delay),
                    )
                    .execution_options(synchronize_session=False)
                )
            if res.rowcount == 1:
                log.info("job %s will be retried: %s", job_id, error)
                self._latest.pop(job_id, None)  # its steps are void: it waits in the queue again
                self.notify()
                return
        try:
            await jobs.record_failure(self.db, job_id, error)
        except jobs.JobStateError as err:
            log.info("failure of job %s not recorded: %s", job_id, err)
        finally:
            await self._finished(job_id)

    async def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job; the worker stops at its next step."""
        cancelled = await jobs.cancel_job(self.db, job_id)
        if cancelled:
            self._changes += 1
            await self._finished(job_id)
        return cancelled

    async def _finished(self, job_id: int) -> None:
        # Waiters learn of the end at once instead of at their next poll.
        await self.progress(ProgressEvent(job_id, "finished"))

    async def recover(
        self, worker_ids: Iterable[str] | None = None, *, alive: Callable[[str], bool] | None = None
    ) -> int:
        """Put back jobs left ``running`` by a process that died: queued again, or failed when
        their attempts are spent. Call it at start-up, before this process's workers run;
        with several worker processes on one database, pass the ids of the dead ones only,
        or ``alive`` (a worker id -> still running?) to leave the live ones' jobs alone.
        Returns how many jobs were queued again."""
        if alive is not None:
            async with self.db.session() as s:
                running = (await s.scalars(select(Job.worker_id).where(Job.status == "running").distinct())).all()
            named = None if worker_ids is None else set(worker_ids)
            live = {w for w in running if w is not None and alive(w)}
            if live:
                log.info("leaving the running jobs of %d live worker(s) alone: %s", len(live), ", ".join(sorted(live)))
            worker_ids = [w for w in running if w not in live and (named is None or w in named)]
        owned = Job.worker_id.in_(list(worker_ids)) if worker_ids is not None else true()
        async with self.db.write() as s:
            res = await s.execute(
                update(Job)
                .where(Job.status == "running", Job.attempts < self.max_attempts, owned)
                .values(status="queued", worker_id=None, available_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            requeued = res.rowcount
            spent = (await s.execute(select(Job.id, Job.attempts).where(Job.status == "running", owned))).tuples().all()
        for job_id, attempts in spent:
            try:
                await jobs.record_failure(self.db, job_id, SPENT.format(attempts=attempts))
            except jobs.JobStateError:
                pass
        if requeued:
            self.notify()
        return requeued


def claim_order(queued: list[tuple[int, str, int]], last: dict[str, int]) -> dict[int, int]:
    """Position of each queued job (id, user, session), in the order ``claim`` would take
    them: sessions one job at a time, oldest first; among sessions, the user served least
    recently (``last``: user -> latest claim_seq), then the oldest job."""
    last = dict(last)
    seq = max(last.values(), default=0)
    by_session: dict[int, list[tuple[int, str]]] = {}
    for job_id, user, session in queued:  # ``queued`` is by id, so each list is oldest first
        by_session.setdefault(session, []).append((job_id, user))
    heads = [(last.get(jobs[0][1]) or 0, jobs[0][0], session) for session, jobs in by_session.items()]
    heapq.heapify(heads)
    cursor = dict.fromkeys(by_session, 0)
    positions: dict[int, int] = {}
    while heads:
        served, job_id, session = heapq.heappop(heads)
        user = by_session[session][cursor[session]][1]
        if served != (last.get(user) or 0):  # the user was served since: sort it again
            heapq.heappush(heads, (last.get(user) or 0, job_id, session))
            continue
        positions[job_id] = len(positions) + 1
        seq += 1
        last[user] = seq
        cursor[session] += 1
        if cursor[session] < len(by_session[session]):
            nxt_id, nxt_user = by_session[session][cursor[session]]
            heapq.heappush(heads, (last.get(nxt_user) or 0, nxt_id, session))
    return positions


def _next_job_query():
    """The id of the next job to claim: runnable (queued, available, first unfinished job of
    its session), of the user whose latest claim is oldest (never served first), oldest first."""
    other = aliased(Job)
    blocked = exists().where(
        other.session_id == Job.session_id,
        other.id != Job.id,
        or_(other.status == "running", and_(other.status == "queued", other.id < Job.id)),
    )
    served = (
        select(Job.user_id.label("user_id"), func.max(Job.claim_seq).label("last_seq"))
        .where(Job.claim_seq.is_not(None))
        .group_by(Job.user_id)
        .subquery()
    )
    return (
        select(Job.id)
        .outerjoin(served, served.c.user_id == Job.user_id)
        .where(Job.status == "queued", Job.available_at <= utcnow(), ~blocked)
        .order_by(func.coalesce(served.c.last_seq, 0), Job.id)
        .limit(1)
    )


async def build_request(s: AsyncSession, job: Job, dialogue_turns: int) -> JobRequest:
    """The request a job runs with: its order and, read now, its session's dialogue and
    images as the job can see them (``sessions.job_context``). Built at the first claim and
    stored; a later claim (a retry, a recovery) runs the stored one."""
    if "dialogue" in job.payload:
        return JobRequest.from_dict(job.payload)
    dialogue, refs, current = await job_context(s, job, dialogue_turns)
    return JobOrder.from_dict(job.payload).request(job.id, job.session_id, dialogue, refs, current)
