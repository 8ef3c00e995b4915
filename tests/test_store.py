"""The session store on a real SQLite file, through the paths production uses: turns and
uploads stored by ``sessions.add_turns``, jobs claimed by the queue (which builds their
request once) and recorded by ``jobs.record_result``; numbering, lineage, undo/revert,
atomicity of results, feedback upserts, server settings and the content-addressed images."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from bot.store import feedback, guilds, jobs, sessions
from bot.store.db import Database
from bot.store.images import InvalidAddress
from bot.store.jobqueue import DbJobQueue
from bot.store.models import Feedback, Image, Job, Session, Turn, utcnow
from engine.config import Limits
from engine.queue import JobRequest, JobResult
from engine.session import NOTHING_TO_UNDO, Ticket


def png(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


async def count(db: Database, model) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def ticket(**kwargs) -> Ticket:
    return Ticket(seed=1, ab_draw=1.0, limits=Limits(per_user_concurrent_jobs=100), **kwargs)


async def add_turn(
    db, session_id: int, text: str, user: str = "u1", uploads=(), job: bool = True, **ticket_args
) -> sessions.StoredTurn:
    (stored,) = await sessions.add_turns(
        db,
        [sessions.NewTurn(session_id, user, text, list(uploads), ticket(**ticket_args) if job else None)],
        since=utcnow() - timedelta(days=1),
    )
    return stored


def upload(store, color) -> sessions.StoredImage:
    data = png(color)
    return sessions.StoredImage(store.put(data), len(data), 8, 6, "png")


async def user_job(db: Database, session_id: int, text: str, user: str = "u1") -> Job:
    return (await add_turn(db, session_id, text, user)).job


async def finish(db, store, job: Job, intent: str, images=(), parent=None, params=None, reply="ok"):
    shas = [store.put(data) for data in images]
    result = JobResult(
        intent={"intent": intent, "params": params or {}, "response": reply},
        reply=reply,
        images=shas,
        parent_image=parent,
    )
    return await jobs.record_result(db, job.id, result, store)


async def current(db, session_id: int) -> int | None:
    return (await sessions.session_with_guild(db, session_id))[0].current_image_number


async def test_sessions_are_found_by_platform_and_channel(db):
    a = await sessions.open_session(db, "discord", "thread-1", "owner", guild_id="g1")
    again = await sessions.open_session(db, "discord", "thread-1", "someone-else")
    other_platform = await sessions.open_session(db, "terminal", "thread-1", "owner")
    t1 = await sessions.open_session(db, "terminal", None, "me")
    t2 = await sessions.open_session(db, "terminal", None, "me")
    assert again.id == a.id and again.owner_id == "owner"
    assert len({a.id, other_platform.id, t1.id, t2.id}) == 4
    found = await sessions.sessions_by_channel(db, "discord", ["thread-1", "nope"])
    assert list(found) == ["thread-1"]
    loaded, guild = found["thread-1"]
    assert loaded.id == a.id and guild.guild_id == "g1" and guild.who_can_talk == "owner"  # defaults
    assert loaded.current_image_number is None and loaded.image_history == []
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset().total_seconds() == 0
    assert (await sessions.session_with_guild(db, t1.id))[1] is None  # no server, no settings
    with pytest.raises(sessions.NotFound):
        await sessions.session_with_guild(db, 999)


async def test_concurrent_creation_of_one_channel_gives_one_session(db):
    made = await asyncio.gather(*(sessions.open_session(db, "discord", "t", "o") for _ in range(5)))
    assert len({s.id for s in made}) == 1
    assert await count(db, Session) == 1


async def test_numbering_lineage_and_the_dialogue_a_job_reads(db, store):
    queue = DbJobQueue(db, store, dialogue_turns=10)
    session = await sessions.open_session(db, "discord", "t1", "u1")
    stored = await add_turn(db, session.id, "here is my cat", uploads=[upload(store, (255, 0, 0))], job=False)
    assert [img.number for img in stored.images] == [1] and stored.job is None
    assert await current(db, session.id) == 1

    job = await user_job(db, session.id, "make it blue")
    assert job.payload == {"seed": 1, "enabled": None, "overrides": {}, "forced_intent": None, "candidates": 1}
    request = await queue.claim("w")
    assert request.job_id == job.id and request.image_refs == {1: stored.images[0].sha256}
    assert request.current_image == 1
    assert [(t.role, t.text, t.images) for t in request.dialogue] == [
        ("user", "here is my cat", [1]),
        ("user", "make it blue", []),
    ]
    recorded = await finish(db, store, job, "instruct_edit", [png((0, 0, 255), (16, 12))], parent=1, reply="Blue!")
    (second,) = recorded.images
    assert (second.number, second.parent_number, second.turn_id) == (2, 1, recorded.turn.id)
    assert (second.width, second.height, second.format) == (16, 12, "png")
    assert second.size == store.path(second.sha256).stat().st_size
    assert recorded.current_image == 2 and recorded.notice is None and await current(db, session.id) == 2

    done = await jobs.get_job(db, job.id)
    assert done.status == "done" and done.finished_at is not None
    result = jobs.StoredResult.from_dict(done.result)
    assert (result.turn_id, result.numbers, result.reply, result.images) == (
        recorded.turn.id,
        [2],
        "Blue!",
        [second.sha256],
    )
    assert JobRequest.from_dict(done.payload) == request  # the request it ran with is kept
    assert recorded.turn.context["dialogue"][0]["text"] == "here is my cat"

    later = await user_job(db, session.id, "thanks")
    request = await DbJobQueue(db, store, dialogue_turns=2).claim("w")
    assert request.job_id == later.id
    assert [t.text for t in request.dialogue] == ["Blue!", "thanks"]  # the window's last turns


async def test_image_numbers_are_unique_under_concurrency(db, store):
    session = await sessions.open_session(db, "discord", "t", "u")
    made = await asyncio.gather(
        *(add_turn(db, session.id, f"pic {i}", uploads=[upload(store, (i, 2, 3))], job=False) for i in range(8))
    )
    assert sorted(img.number for s in made for img in s.images) == list(range(1, 9))
    other = await sessions.open_session(db, "discord", "t2", "u")
    assert (await add_turn(db, other.id, "x", uploads=[upload(store, (1, 2, 3))], job=False)).images[0].number == 1
    # Many at once in one batch: each turn of a session sees the numbers the one before took.
    batch = await sessions.add_turns(
        db,
        [
            sessions.NewTurn(other.id, "u", f"two {i}", [upload(store, (i, 9, 9)), upload(store, (9, i, 9))])
            for i in range(3)
        ],
        since=utcnow(),
    )
    assert [[img.number for img in s.images] for s in batch] == [[2, 3], [4, 5], [6, 7]]


async def test_undo_walks_back_the_history_and_revert_is_a_change(db, store):
    session = await sessions.open_session(db, "discord", "t", "u")
    await add_turn(db, session.id, "start", uploads=[upload(store, (9, 9, 9))], job=False)  # #1
    await finish(db, store, await user_job(db, session.id, "edit"), "edit", [png((1, 1, 1))], parent=1)  # #2
    await finish(db, store, await user_job(db, session.id, "edit"), "edit", [png((2, 2, 2))], parent=2)  # #3

    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo", reply="Undone.")
    assert (r.current_image, r.notice, r.turn.text) == (2, None, "Undone.")
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert r.current_image == 1 and await current(db, session.id) == 1
    r = await finish(db, store, await user_job(db, session.id, "undo again"), "undo", reply="Undone.")
    assert r.current_image == 1 and r.notice == NOTHING_TO_UNDO and r.turn.text == NOTHING_TO_UNDO
    job = await user_job(db, session.id, "back to 3")
    r = await finish(db, store, job, "revert", params={"image": "#3"})
    assert r.current_image == 3 and await current(db, session.id) == 3 and r.images == []
    assert (await jobs.get_job(db, job.id)).result["current_image"] == 3
    r = await finish(db, store, await user_job(db, session.id, "back to 9"), "revert", params={"image": "#9"})
    assert r.current_image == 3 and r.notice == "There is no image #9 in this conversation."
    # A chat turn leaves the current image alone; an undo now reverses the revert.
    r = await finish(db, store, await user_job(db, session.id, "hi"), "chat", reply="Hello!")
    assert (r.current_image, r.notice, r.turn.text) == (3, None, "Hello!")
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert r.current_image == 1


async def test_the_issue_sequence_through_the_store(db, store):
    """Draw #1, edit to #2, "go back to #1", "undo": the current image is #2 again, as the
    DrawnConvos gold says (the store once said "There is nothing to undo")."""
    session = await sessions.open_session(db, "terminal", None, "u")
    await finish(db, store, await user_job(db, session.id, "a fox"), "text2image", [png((1, 1, 1))])
    await finish(db, store, await user_job(db, session.id, "night"), "instruct_edit", [png((2, 2, 2))], parent=1)
    await finish(db, store, await user_job(db, session.id, "go back to #1"), "revert", params={"image": "#1"})
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert (r.current_image, r.notice) == (2, None)


async def test_record_result_is_all_or_nothing(db, store):
    session = await sessions.open_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    sha = store.put(png((5, 5, 5)))
    turns_before = await count(db, Turn)

    # Fails inside the transaction, after the job row was already updated: the intent
    # cannot be stored as JSON.
    bad = JobResult(intent={"intent": "text2image", "oops": object()}, reply="x", images=[sha])
    with pytest.raises(StatementError):  # not JSON serializable
        await jobs.record_result(db, job.id, bad, store)
    # Fails before it: an image that is not in the store.
    missing = JobResult(intent={"intent": "text2image"}, reply="x", images=["0" * 64])
    with pytest.raises(FileNotFoundError):
        await jobs.record_result(db, job.id, missing, store)

    stored = await jobs.get_job(db, job.id)
    assert stored.status == "queued" and stored.result is None and stored.finished_at is None
    assert await count(db, Turn) == turns_before and await count(db, Image) == 0
    s, _ = await sessions.session_with_guild(db, session.id)
    assert s.image_count == 0 and s.current_image_number is None and s.image_history == []

    ok = JobResult(intent={"intent": "text2image"}, reply="Here.", images=[sha])
    assert (await jobs.record_result(db, job.id, ok, store)).images[0].number == 1
    with pytest.raises(jobs.JobStateError):
        await jobs.record_result(db, job.id, ok, store)  # recorded once only
    assert await count(db, Image) == 1


async def test_ab_result_numbers_both_takes_and_a_choice_moves_the_current_image(db, store):
    session = await sessions.open_session(db, "discord", "t", "u")
    await finish(db, store, await user_job(db, session.id, "a fox"), "text2image", [png((1, 1, 1))])  # #1
    job = await user_job(db, session.id, "make it night")
    a, b = (
        JobResult(
            {"intent": i, "params": {}, "response": r},
            r,
            [store.put(png(c))],
            parent_image=1,
            irpem_raw=f'{{"intent":"{i}"}}',
        )
        for i, r, c in (("instruct_edit", "Night.", (2, 2, 2)), ("img2img", "Dark.", (3, 3, 3)))
    )
    recorded = await jobs.record_result(db, job.id, JobResult(**{**vars(a), "candidates": [a, b]}), store)
    assert [img.number for img in recorded.images] == [2, 3] and recorded.current_image == 2
    result = jobs.StoredResult.from_dict((await jobs.get_job(db, job.id)).result)
    assert [c.numbers for c in result.candidates] == [(2,), (3,)]
    assert result.addresses == {2: a.images[0], 3: b.images[0]}
    assert result.candidates[1].raw == {"intent": "img2img"}
    _, answer = await sessions.answer(db, recorded.turn.id)
    assert answer.images == (2,) and answer.parent == 1

    turn, state = await sessions.choose_candidate(db, recorded.turn.id, 1)
    assert (turn.intent["intent"], turn.text, turn.chosen, state.current) == ("img2img", "Dark.", 1, 3)
    _, answer = await sessions.answer(db, recorded.turn.id)
    assert answer.images == (3,) and answer.intent["intent"] == "img2img"  # buttons act on B now
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert r.current_image == 1
    with pytest.raises(sessions.NotFound):
        await sessions.choose_candidate(db, recorded.turn.id, 2)


async def test_failure_and_cancel(db, store):
    queue = DbJobQueue(db, store)
    session = await sessions.open_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    turn = await jobs.record_failure(db, job.id, "The model crashed.")
    assert (turn.role, turn.error, turn.job_id) == ("assistant", "The model crashed.", job.id)
    stored = await jobs.get_job(db, job.id)
    assert stored.status == "failed" and stored.error == "The model crashed."
    assert await jobs.cancel_job(db, job.id) is False

    job2 = await user_job(db, session.id, "again")
    request = await queue.claim("w")
    assert [t.role for t in request.dialogue] == ["user", "user"]  # the error turn is left out
    assert await jobs.cancel_job(db, job2.id) is True
    assert (await jobs.get_job(db, job2.id)).status == "cancelled"
    with pytest.raises(jobs.JobStateError):
        await finish(db, store, job2, "chat")
    with pytest.raises(jobs.JobStateError):
        await jobs.record_failure(db, job2.id, "late")


async def test_quotas_are_decided_on_what_the_transaction_reads(db):
    """Turns of one batch count each other's jobs: three at once under a limit of two."""
    session = await sessions.open_session(db, "discord", "t", "u", guild_id="g")
    await guilds.update_guild_settings(db, "g", limits={"per_user_concurrent_jobs": 2})
    made = await sessions.add_turns(
        db, [sessions.NewTurn(session.id, "u", f"t{i}", [], ticket()) for i in range(3)], since=utcnow()
    )
    assert [s.job is not None for s in made] == [True, True, False]
    assert made[2].refusal.startswith("You already have 2 request(s)")
    assert await count(db, Turn) == 3 and await count(db, Job) == 2  # the refused turn is kept


async def test_vote_changed_twice_is_one_row(db, store):
    session = await sessions.open_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    turn = (await finish(db, store, job, "chat")).turn
    await feedback.set_vote(db, turn.id, "voter", "up")
    await feedback.set_vote(db, turn.id, "voter", "down")
    last = await feedback.set_vote(db, turn.id, "voter", "up")
    await feedback.set_vote(db, turn.id, "voter", "choice_b", candidate=2)
    await feedback.set_vote(db, turn.id, "other", "down")
    rows = await feedback.feedback_for_turn(db, turn.id)
    mine = [(f.kind, f.kind_group, f.candidate) for f in rows if f.user_id == "voter"]
    assert sorted(mine) == [("choice_b", "choice", 2), ("up", "vote", None)]
    assert await count(db, Feedback) == 3
    assert last.updated_at >= last.created_at
    with pytest.raises(ValueError):
        await feedback.set_vote(db, turn.id, "voter", "meh")
    # Concurrent clicks of one user still leave one vote.
    await asyncio.gather(*(feedback.set_vote(db, turn.id, "clicker", k) for k in ("up", "down", "up", "down")))
    assert len([f for f in await feedback.feedback_for_turn(db, turn.id) if f.user_id == "clicker"]) == 1


async def test_guild_settings_defaults_and_update(db):
    default = await guilds.guild_settings(db, "g1")
    assert default.enabled_pipelines is None and default.who_can_talk == "owner" and default.ab_probability == 0.0
    updated = await guilds.update_guild_settings(db, "g1", enabled_pipelines=["text2image"], ab_probability=0.25)
    assert updated.enabled_pipelines == ["text2image"]
    again = await guilds.update_guild_settings(db, "g1", who_can_talk="anyone", pipeline_overrides={"t": {"steps": 4}})
    assert again.enabled_pipelines == ["text2image"] and again.ab_probability == 0.25
    loaded = await guilds.guild_settings(db, "g1")
    assert (loaded.who_can_talk, loaded.pipeline_overrides) == ("anyone", {"t": {"steps": 4}})
    for bad in ({"colour": "red"}, {"who_can_talk": "nobody"}, {"ab_probability": 2}):
        with pytest.raises(ValueError):
            await guilds.update_guild_settings(db, "g1", **bad)


def test_image_store_is_content_addressed_and_idempotent(store):
    data = png((10, 20, 30))
    sha = store.put(data)
    assert store.put(data) == sha
    path = store.path(sha)
    assert path == store.root / sha[:2] / f"{sha}.png"
    assert store.get(sha) == data and sha in store
    assert [p.name for p in (store.root / sha[:2]).iterdir()] == [path.name]  # one file, no temp left

    jpeg = io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    assert store.path(store.put(jpeg.getvalue(), ext=None)).suffix == ".jpg"
    with pytest.raises(ValueError):
        store.put(b"x", ext="../png")


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "ab/../../x", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "", "/" + "a" * 63],
)
def test_image_store_refuses_what_is_not_an_address(store, bad):
    with pytest.raises(InvalidAddress):
        store.get(bad)
    with pytest.raises(InvalidAddress):
        store.path(bad)
    assert bad not in store


def test_image_store_missing_address(store):
    with pytest.raises(FileNotFoundError):
        store.get("f" * 64)
