"""The DB-backed job queue on a real SQLite file: round-robin claim order, claims that never
collide, per-session order, recovery after a dead process, retries and cancellation."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import time

import pytest
from PIL import Image as PILImage

from bot.store import jobs as job_rows
from bot.store import sessions
from bot.store.db import Database
from bot.store.jobqueue import DbJobQueue
from bot.store.models import Job, utcnow
from engine.config import Limits
from engine.queue import DialogueTurn, JobQueue, JobResult, ProgressEvent
from engine.session import Ticket
from engine.worker import local_worker_id, worker_alive


def png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def queue(db, store) -> DbJobQueue:
    return DbJobQueue(db, store, max_attempts=3)


async def enqueue(db: Database, user: str, channel: str, text: str = "draw") -> int:
    """A user's turn with its job, stored the way the bot stores turns."""
    session = await sessions.open_session(db, "discord", channel, user)
    ticket = Ticket(seed=1, ab_draw=1.0, limits=Limits(per_user_concurrent_jobs=100))
    (stored,) = await sessions.add_turns(db, [sessions.NewTurn(session.id, user, text, [], ticket)], since=utcnow())
    return stored.job.id


async def claim_all(queue: DbJobQueue, worker: str = "w") -> list[int]:
    ids = []
    while (request := await queue.claim(worker)) is not None:
        ids.append(request.job_id)
    return ids


def test_implements_the_engine_protocol(queue):
    assert isinstance(queue, JobQueue)


async def test_round_robin_serves_the_least_recently_served_user(db, queue):
    a = [await enqueue(db, "A", f"a{i}") for i in range(3)]
    b = await enqueue(db, "B", "b0")
    assert [await queue.queue_position(j) for j in (*a, b)] == [1, 3, 4, 2]
    assert await claim_all(queue) == [a[0], b, a[1], a[2]]
    assert await queue.queue_position(a[0]) is None
    # B, served longer ago than A, goes first again with a new request.
    a4 = await enqueue(db, "A", "a3")
    b2 = await enqueue(db, "B", "b1")
    assert await claim_all(queue) == [b2, a4]


async def test_a_session_runs_its_jobs_in_order_and_sees_earlier_results(db, queue, store):
    first = await enqueue(db, "A", "thread", "draw a cat")
    second = await enqueue(db, "B", "thread", "make it blue")  # queued before the cat exists
    other = await enqueue(db, "C", "elsewhere")
    request = await queue.claim("w")
    assert request.job_id == first
    assert (await queue.claim("w")).job_id == other  # `second` waits for `first`
    assert await queue.claim("w") is None

    sha = await queue.put_image(png((0, 0, 200)))
    recorded = await queue.complete(first, JobResult({"intent": "text2image", "params": {}}, "A cat.", [sha]))
    assert recorded.current_image == 1
    request = await queue.claim("w")
    assert request.job_id == second
    assert request.dialogue == [
        DialogueTurn("user", "draw a cat"),
        DialogueTurn("user", "make it blue"),
        DialogueTurn("assistant", "A cat.", [1]),
    ]
    assert request.image_refs == {1: sha} and request.current_image == 1
    assert await queue.get_image(sha) == png((0, 0, 200))
    stored = await job_rows.get_job(db, second)
    assert stored.payload == request.to_dict()  # built once, at the first claim, and kept


async def test_concurrent_claimers_never_share_a_job(db_url, store, db):
    jobs = {await enqueue(db, f"user{i % 3}", f"t{i}") for i in range(12)}
    other_db = Database(db_url)  # a second process: its own engine and connections
    try:
        q1 = DbJobQueue(db, store)
        q2 = DbJobQueue(other_db, store)
        claimed = await asyncio.gather(
            claim_all(q1, "w1"), claim_all(q2, "w2"), claim_all(q1, "w3"), claim_all(q2, "w4")
        )
    finally:
        await other_db.dispose()
    flat = [j for ids in claimed for j in ids]
    assert sorted(flat) == sorted(jobs)  # each exactly once
    for job_id in jobs:
        job = await job_rows.get_job(db, job_id)
        assert job.status == "running" and job.attempts == 1


async def test_recover_requeues_jobs_of_a_dead_process(db_url, store):
    dead = Database(db_url)
    await dead.upgrade()
    job_id = await enqueue(dead, "A", "t")
    assert (await DbJobQueue(dead, store).claim("dead-worker")).job_id == job_id
    await dead.dispose()  # the process is gone; its job is still marked running

    db = Database(db_url)
    try:
        queue = DbJobQueue(db, store, max_attempts=3)
        assert await queue.claim("w") is None
        assert await queue.recover() == 1
        job = await job_rows.get_job(db, job_id)
        assert (job.status, job.worker_id) == ("queued", None)
        request = await queue.claim("w2")
        assert request.job_id == job_id
        assert (await job_rows.get_job(db, job_id)).attempts == 2

        # A job whose attempts are spent is given up instead.
        spent = DbJobQueue(db, store, max_attempts=2)
        assert await spent.recover() == 0
        job = await job_rows.get_job(db, job_id)
        assert job.status == "failed" and "2 time(s)" in job.error
        assert await spent.recover() == 0
    finally:
        await db.dispose()


async def test_recover_only_the_named_workers(db, store):
    queue = DbJobQueue(db, store)
    j1 = await enqueue(db, "A", "t1")
    j2 = await enqueue(db, "B", "t2")
    await queue.claim("alive")
    await queue.claim("dead")
    assert await queue.recover(worker_ids=["dead"]) == 1
    statuses = {j: (await job_rows.get_job(db, j)).status for j in (j1, j2)}
    assert sorted(statuses.values()) == ["queued", "running"]


@pytest.fixture
def live_python():
    """A live Python process on this host, as a second dialogdraw would be."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "up\n"  # running Python, not still between fork and exec
    yield proc
    proc.kill()
    proc.wait()


def test_worker_alive_tells_live_workers_from_dead_ones(live_python):
    host = socket.gethostname()
    assert worker_alive(f"{host}:{live_python.pid}")
    assert not worker_alive(local_worker_id())  # a restarted container reuses its own pid
    assert not worker_alive(f"elsewhere.example:{live_python.pid}")  # cannot tell: recover
    assert not worker_alive("w1") and not worker_alive(f"{host}:x")
    sleeper = subprocess.Popen(["sleep", "60"])  # a reused pid, not a Python process
    try:
        assert not worker_alive(f"{host}:{sleeper.pid}")
    finally:
        sleeper.kill()
        sleeper.wait()
    live_python.kill()
    live_python.wait()
    assert not worker_alive(f"{host}:{live_python.pid}")


async def test_recover_leaves_the_jobs_of_a_live_process_alone(db, store, live_python):
    """A `dialogdraw chat` started beside a running bot on one database used to put the
    bot's running job back in the queue, so it ran twice."""
    queue = DbJobQueue(db, store)
    host = socket.gethostname()
    j_live = await enqueue(db, "A", "t1")
    j_dead = await enqueue(db, "B", "t2")
    assert (await queue.claim(f"{host}:{live_python.pid}")).job_id == j_live
    assert (await queue.claim(f"{host}:999999999")).job_id == j_dead
    assert await queue.recover(alive=worker_alive) == 1
    assert (await job_rows.get_job(db, j_live)).status == "running"
    assert (await job_rows.get_job(db, j_dead)).status == "queued"


async def test_retry_until_attempts_are_spent(db, store):
    queue = DbJobQueue(db, store, max_attempts=2)
    job_id = await enqueue(db, "A", "t")
    await queue.claim("w")
    await queue.fail(job_id, "flaky GPU", retry=True)
    job = await job_rows.get_job(db, job_id)
    assert (job.status, job.attempts, job.error) == ("queued", 1, "flaky GPU")
    await queue.claim("w")
    await queue.fail(job_id, "flaky GPU again", retry=True)
    job = await job_rows.get_job(db, job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 2, "flaky GPU again")
    assert await queue.claim("w") is None

    no_retry = await enqueue(db, "A", "t2")
    await queue.claim("w")
    await queue.fail(no_retry, "cannot do that", retry=False)
    assert (await job_rows.get_job(db, no_retry)).status == "failed"


async def test_retry_delay_holds_the_job_back(db, store):
    queue = DbJobQueue(db, store, max_attempts=3, retry_delay=60)
    job_id = await enqueue(db, "A", "t")
    await queue.claim("w")
    await queue.fail(job_id, "busy", retry=True)
    assert await queue.claim("w") is None
    assert await queue.queue_position(job_id) == 1


async def test_cancel_queued_and_running_jobs(db, queue, store):
    queued = await enqueue(db, "A", "t1")
    running = await enqueue(db, "B", "t2")
    assert (await queue.claim("w")).job_id == queued
    assert await job_rows.cancel_job(db, running) is True  # B's job, still queued
    assert await queue.claim("w") is None
    assert not await queue.is_cancelled(queued)
    assert await job_rows.cancel_job(db, queued) is True  # now running
    assert await queue.is_cancelled(queued)
    # Whatever the worker delivers after the cancel is dropped.
    sha = await queue.put_image(png((1, 2, 3)))
    assert await queue.complete(queued, JobResult({"intent": "text2image"}, "late", [sha])) is None
    await queue.fail(queued, "late failure", retry=True)
    job = await job_rows.get_job(db, queued)
    assert job.status == "cancelled" and job.result is None
    assert await sessions.session_images(db, job.session_id) == []
    assert await job_rows.cancel_job(db, queued) is False


async def test_wait_for_work_wakes_on_notify(queue):
    start = time.monotonic()
    await queue.wait_for_work(0.05)  # nothing: returns after the timeout
    assert time.monotonic() - start >= 0.04
    waiter = asyncio.create_task(queue.wait_for_work(30))
    await asyncio.sleep(0)
    queue.notify()
    await asyncio.wait_for(waiter, 5)
    queue.notify()  # a notify before the wait is not lost
    await asyncio.wait_for(queue.wait_for_work(30), 5)


async def test_progress_reaches_subscribers(queue):
    async with queue.subscribe(7) as events, queue.subscribe(7) as also:
        await queue.progress(ProgressEvent(7, "running", intent="text2image"))
        await queue.progress(ProgressEvent(8, "running"))  # another job: not delivered
        await queue.progress(ProgressEvent(7, "step", step=1, total=4))
        assert [e.stage for e in (events.get_nowait(), events.get_nowait())] == ["running", "step"]
        assert also.qsize() == 2 and events.empty()
    await queue.progress(ProgressEvent(7, "step", step=2, total=4))  # nobody listens: fine
    assert queue._subscribers == {}


async def test_a_late_subscriber_hears_the_latest_stage_first(queue):
    # a front end subscribes after posting its status message; the job may be running by then
    await queue.progress(ProgressEvent(7, "running", intent="text2image"))
    await queue.progress(ProgressEvent(7, "step", step=3, total=4))
    async with queue.subscribe(7) as events:
        first = events.get_nowait()
        assert (first.stage, first.step) == ("step", 3) and events.empty()
        await queue.progress(ProgressEvent(7, "finished"))
        assert events.get_nowait().stage == "finished"
    async with queue.subscribe(7) as events:  # an ended job replays nothing
        assert events.empty()


async def test_an_unreadable_request_fails_instead_of_jamming(db, queue):
    bad = await enqueue(db, "A", "t1")
    good = await enqueue(db, "B", "t2")
    async with db.session() as s, s.begin():
        job = await s.get(Job, bad)
        job.payload = {"garbage": True}
    assert (await queue.claim("w")).job_id == good
    job = await job_rows.get_job(db, bad)
    assert job.status == "failed" and "could not be read" in job.error


async def test_a_waiting_job_hears_its_position_move_up(db, store):
    queue = DbJobQueue(db, store, max_attempts=3, position_interval=0.05)
    queue.local_worker = True  # updates only when the queue moved
    first = await enqueue(db, "A", "a0")
    second = await enqueue(db, "B", "b0")
    queue.notify()
    async with queue.subscribe(second) as events:
        event = await asyncio.wait_for(events.get(), 5)
        assert (event.stage, event.position) == ("queued", 2)
        assert (await queue.claim("w")).job_id == first
        event = await asyncio.wait_for(events.get(), 5)
        assert (event.stage, event.position) == ("queued", 1)
        await asyncio.sleep(0.2)  # nothing moved: no repeated announcement
        assert events.empty()


async def test_concurrent_position_queries_share_one_read(db, queue):
    jobs = [await enqueue(db, "A", f"c{i}") for i in range(5)]
    reads = 0
    compute = queue._compute_positions

    async def counted():
        nonlocal reads
        reads += 1
        await compute()

    queue._compute_positions = counted
    positions = await asyncio.gather(*(queue.queue_position(j) for j in jobs))
    assert positions == [1, 2, 3, 4, 5]
    assert reads <= 2
