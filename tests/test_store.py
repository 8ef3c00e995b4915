"""The session store on a real SQLite file: numbering, lineage, undo/revert, atomicity of
results, feedback upserts, guild settings and the content-addressed image store."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image as PILImage

from bot.store import repository as repo
from bot.store.db import Database
from bot.store.images import InvalidAddress
from bot.store.models import Feedback, Image, Job, Session, Turn
from engine.queue import JobRequest, JobResult
from sqlalchemy import func, select


def png(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


async def count(db: Database, model) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def request_for(session_id: int):
    return lambda job_id: JobRequest(job_id, session_id, [], {}, None, seed=1)


async def user_job(db: Database, session_id: int, text: str, user: str = "u1") -> Job:
    turn = await repo.add_user_turn(db, session_id, user, text)
    return await repo.enqueue_job(db, session_id, turn.id, user, request_for(session_id))


async def finish(db, store, job: Job, intent: str, images=(), parent=None, params=None, reply="ok"):
    shas = [store.put(data) for data in images]
    result = JobResult(intent={"intent": intent, "params": params or {}, "response": reply}, reply=reply,
                       images=shas, parent_image=parent)
    return await repo.record_result(db, job.id, result, store)


async def test_sessions_are_found_by_platform_and_channel(db):
    a = await repo.get_or_create_session(db, "discord", "thread-1", "owner", guild_id="g1")
    again = await repo.get_or_create_session(db, "discord", "thread-1", "someone-else")
    other_platform = await repo.get_or_create_session(db, "terminal", "thread-1", "owner")
    t1 = await repo.get_or_create_session(db, "terminal", None, "me")
    t2 = await repo.get_or_create_session(db, "terminal", None, "me")
    assert again.id == a.id and again.owner_id == "owner"
    assert len({a.id, other_platform.id, t1.id, t2.id}) == 4
    assert (await repo.session_by_channel(db, "discord", "thread-1")).id == a.id
    assert await repo.session_by_channel(db, "discord", "nope") is None
    loaded = await repo.get_session(db, a.id)
    assert loaded.guild_id == "g1" and loaded.current_image_number is None
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset().total_seconds() == 0


async def test_concurrent_creation_of_one_channel_gives_one_session(db):
    sessions = await asyncio.gather(*(repo.get_or_create_session(db, "discord", "t", "o") for _ in range(5)))
    assert len({s.id for s in sessions}) == 1
    assert await count(db, Session) == 1


async def test_numbering_lineage_and_dialogue(db, store):
    session = await repo.get_or_create_session(db, "discord", "t1", "u1")
    turn = await repo.add_user_turn(db, session.id, "u1", "here is my cat")
    sha = store.put(png((255, 0, 0)))
    first = await repo.add_image(db, session.id, sha, 10, 8, 6, "png", turn.id, None)
    assert first.number == 1
    assert (await repo.get_session(db, session.id)).current_image_number == 1

    job = await user_job(db, session.id, "make it blue")
    recorded = await finish(db, store, job, "instruct_edit", [png((0, 0, 255), (16, 12))], parent=1, reply="Blue!")
    (second,) = recorded.images
    assert (second.number, second.parent_number, second.turn_id) == (2, 1, recorded.turn.id)
    assert (second.width, second.height, second.format) == (16, 12, "png")
    assert second.size == store.path(second.sha256).stat().st_size
    assert recorded.current_image == 2 and recorded.notice is None
    assert (await repo.get_session(db, session.id)).current_image_number == 2

    stored = await repo.get_job(db, job.id)
    assert stored.status == "done" and stored.finished_at is not None
    assert stored.result["turn_id"] == recorded.turn.id and stored.result["numbers"] == [2]
    assert stored.result["reply"] == "Blue!" and stored.result["images"] == [second.sha256]

    turns = await repo.dialogue(db, session.id, 10)
    assert [(t.role, t.text, t.images) for t in turns] == [
        ("user", "here is my cat", [1]),
        ("user", "make it blue", []),
        ("assistant", "Blue!", [2]),
    ]
    assert [t.text for t in await repo.dialogue(db, session.id, 2)] == ["make it blue", "Blue!"]
    assert [img.number for img in await repo.session_images(db, session.id)] == [1, 2]
    assert (await repo.get_image(db, session.id, 2)).sha256 == second.sha256


async def test_image_numbers_are_unique_under_concurrency(db, store):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    turn = await repo.add_user_turn(db, session.id, "u", "many")
    sha = store.put(png((1, 2, 3)))
    images = await asyncio.gather(
        *(repo.add_image(db, session.id, sha, 1, 1, 1, "png", turn.id, None) for _ in range(8))
    )
    assert sorted(img.number for img in images) == list(range(1, 9))
    other = await repo.get_or_create_session(db, "discord", "t2", "u")
    other_turn = await repo.add_user_turn(db, other.id, "u", "x")
    assert (await repo.add_image(db, other.id, sha, 1, 1, 1, "png", other_turn.id, None)).number == 1


async def test_undo_and_revert_move_the_current_image(db, store):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    turn = await repo.add_user_turn(db, session.id, "u", "start")
    await repo.add_image(db, session.id, store.put(png((9, 9, 9))), 1, 8, 6, "png", turn.id, None)  # #1
    await finish(db, store, await user_job(db, session.id, "edit"), "edit", [png((1, 1, 1))], parent=1)  # #2
    await finish(db, store, await user_job(db, session.id, "edit"), "edit", [png((2, 2, 2))], parent=2)  # #3

    async def current():
        return (await repo.get_session(db, session.id)).current_image_number

    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo", reply="Undone.")
    assert (r.current_image, r.notice, r.turn.text) == (2, None, "Undone.")
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert r.current_image == 1 and await current() == 1
    r = await finish(db, store, await user_job(db, session.id, "undo again"), "undo", reply="Undone.")
    assert r.current_image == 1 and r.notice == repo.NOTHING_TO_UNDO and r.turn.text == repo.NOTHING_TO_UNDO
    job = await user_job(db, session.id, "back to 3")
    r = await finish(db, store, job, "revert", params={"image": "#3"})
    assert r.current_image == 3 and await current() == 3 and r.images == []
    assert (await repo.get_job(db, job.id)).result["current_image"] == 3
    r = await finish(db, store, await user_job(db, session.id, "back to 9"), "revert", params={"image": "#9"})
    assert r.current_image == 3 and r.notice == "There is no image #9 in this conversation."
    # A chat turn leaves the current image alone.
    r = await finish(db, store, await user_job(db, session.id, "hi"), "chat", reply="Hello!")
    assert (r.current_image, r.notice, r.turn.text) == (3, None, "Hello!")


async def test_undo_after_a_new_generation_returns_to_the_picture_it_replaced(db, store):
    session = await repo.get_or_create_session(db, "terminal", None, "u")
    await finish(db, store, await user_job(db, session.id, "a fox"), "text2image", [png((1, 1, 1))])  # #1
    await finish(db, store, await user_job(db, session.id, "a cat"), "text2image", [png((2, 2, 2))])  # #2
    images = await repo.session_images(db, session.id)
    assert [(i.parent_number, i.replaced_number) for i in images] == [(None, None), (None, 1)]
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo", reply="Undone.")
    assert (r.current_image, r.notice) == (1, None)
    r = await finish(db, store, await user_job(db, session.id, "undo"), "undo")
    assert (r.current_image, r.notice) == (1, repo.NOTHING_TO_UNDO)


def test_navigate_rules():
    parents = {1: None, 2: 1, 3: 2, 4: None}
    undo = {"intent": "undo", "params": {}}
    assert repo.navigate(undo, 3, parents) == (2, None)
    assert repo.navigate(undo, 4, parents) == (4, repo.NOTHING_TO_UNDO)
    assert repo.navigate(undo, None, {}) == (None, repo.NOTHING_TO_UNDO)
    assert repo.navigate({"intent": "revert", "params": {"image": "#1"}}, 3, parents) == (1, None)
    assert repo.navigate({"intent": "revert", "params": {"image": 2}}, 3, parents) == (2, None)
    assert repo.navigate({"intent": "revert", "params": {}}, 3, parents)[0] == 3
    assert repo.navigate({"intent": "text2image"}, 3, parents) == (3, None)


async def test_record_result_is_all_or_nothing(db, store):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    sha = store.put(png((5, 5, 5)))
    turns_before = await count(db, Turn)

    # Fails inside the transaction, after the job row was already updated: the intent
    # cannot be stored as JSON.
    bad = JobResult(intent={"intent": "text2image", "oops": object()}, reply="x", images=[sha])
    with pytest.raises(Exception):
        await repo.record_result(db, job.id, bad, store)
    # Fails before it: an image that is not in the store.
    missing = JobResult(intent={"intent": "text2image"}, reply="x", images=["0" * 64])
    with pytest.raises(FileNotFoundError):
        await repo.record_result(db, job.id, missing, store)

    stored = await repo.get_job(db, job.id)
    assert stored.status == "queued" and stored.result is None and stored.finished_at is None
    assert await count(db, Turn) == turns_before and await count(db, Image) == 0
    s = await repo.get_session(db, session.id)
    assert s.image_count == 0 and s.current_image_number is None

    ok = JobResult(intent={"intent": "text2image"}, reply="Here.", images=[sha])
    assert (await repo.record_result(db, job.id, ok, store)).images[0].number == 1
    with pytest.raises(repo.JobStateError):
        await repo.record_result(db, job.id, ok, store)  # recorded once only
    assert await count(db, Image) == 1


async def test_failure_and_cancel(db, store):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    assert await repo.active_jobs_for_user(db, "u1") == 1
    turn = await repo.record_failure(db, job.id, "The model crashed.")
    assert (turn.role, turn.error, turn.job_id) == ("assistant", "The model crashed.", job.id)
    stored = await repo.get_job(db, job.id)
    assert stored.status == "failed" and stored.error == "The model crashed."
    assert [t.role for t in await repo.dialogue(db, session.id, 10)] == ["user"]  # error turns left out
    assert await repo.active_jobs_for_user(db, "u1") == 0
    assert await repo.cancel_job(db, job.id) is False

    job2 = await user_job(db, session.id, "again")
    assert await repo.cancel_job(db, job2.id) is True
    assert (await repo.get_job(db, job2.id)).status == "cancelled"
    with pytest.raises(repo.JobStateError):
        await finish(db, store, job2, "chat")
    with pytest.raises(repo.JobStateError):
        await repo.record_failure(db, job2.id, "late")


async def test_enqueue_builds_the_request_with_the_job_id(db):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    turn = await repo.add_user_turn(db, session.id, "u", "draw a fox")

    async def build(job_id: int) -> JobRequest:
        turns = await repo.dialogue(db, session.id, 8)  # reads while the insert is pending
        return JobRequest(job_id, session.id, turns, {}, None, seed=7, enabled=["text2image"])

    job = await repo.enqueue_job(db, session.id, turn.id, "u", build)
    stored = await repo.get_job(db, job.id)
    request = JobRequest.from_dict(stored.payload)
    assert request.job_id == job.id and request.seed == 7 and request.dialogue[0].text == "draw a fox"
    assert (stored.status, stored.attempts, stored.turn_id) == ("queued", 0, turn.id)

    with pytest.raises(ValueError):
        await repo.enqueue_job(db, session.id, turn.id, "u", lambda job_id: JobRequest(job_id + 1, session.id, [], {}, None, 1))
    assert await count(db, Job) == 1  # the refused request left no job behind


async def test_vote_changed_twice_is_one_row(db, store):
    session = await repo.get_or_create_session(db, "discord", "t", "u")
    job = await user_job(db, session.id, "draw")
    turn = (await finish(db, store, job, "chat")).turn
    await repo.set_vote(db, turn.id, "voter", "up")
    await repo.set_vote(db, turn.id, "voter", "down")
    last = await repo.set_vote(db, turn.id, "voter", "up")
    await repo.set_vote(db, turn.id, "voter", "choice_b", candidate=2)
    await repo.set_vote(db, turn.id, "other", "down")
    rows = await repo.feedback_for_turn(db, turn.id)
    mine = [(f.kind, f.kind_group, f.candidate) for f in rows if f.user_id == "voter"]
    assert sorted(mine) == [("choice_b", "choice", 2), ("up", "vote", None)]
    assert await count(db, Feedback) == 3
    assert last.updated_at >= last.created_at
    with pytest.raises(ValueError):
        await repo.set_vote(db, turn.id, "voter", "meh")
    # Concurrent clicks of one user still leave one vote.
    await asyncio.gather(*(repo.set_vote(db, turn.id, "clicker", k) for k in ("up", "down", "up", "down")))
    assert len([f for f in await repo.feedback_for_turn(db, turn.id) if f.user_id == "clicker"]) == 1


async def test_guild_settings_defaults_and_update(db):
    default = await repo.guild_settings(db, "g1")
    assert default.enabled_pipelines is None and default.who_can_talk == "owner" and default.ab_probability == 0.0
    updated = await repo.update_guild_settings(db, "g1", enabled_pipelines=["text2image"], ab_probability=0.25)
    assert updated.enabled_pipelines == ["text2image"]
    again = await repo.update_guild_settings(db, "g1", who_can_talk="anyone", pipeline_overrides={"t": {"steps": 4}})
    assert again.enabled_pipelines == ["text2image"] and again.ab_probability == 0.25
    loaded = await repo.guild_settings(db, "g1")
    assert (loaded.who_can_talk, loaded.pipeline_overrides) == ("anyone", {"t": {"steps": 4}})
    for bad in ({"colour": "red"}, {"who_can_talk": "nobody"}, {"ab_probability": 2}):
        with pytest.raises(ValueError):
            await repo.update_guild_settings(db, "g1", **bad)


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
    "bad", ["../../etc/passwd", "ab/../../x", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "", "/" + "a" * 63]
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
