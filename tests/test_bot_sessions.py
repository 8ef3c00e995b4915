"""Threads are dialogue sessions: the real discord.py client, fed gateway events, talking
to a recording fake of Discord's HTTP API (tests/discord_recorder.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.store.models import Image as ImageRow
from bot.store.models import Job, Session, Turn
from engine.worker import Worker
from tests.bot_harness import final_reply, is_final, open_thread, paint, running_bot, turn_of, with_paint
from tests.discord_recorder import png_bytes
from tests.test_bad_input import _bomb


@pytest.mark.slow
async def test_three_turn_thread_session_on_the_tiny_profile(tiny_settings):
    outputs = [
        {
            "intent": "text2image",
            "params": {"prompt": "a fox in the snow", "steps": 2},
            "response": "A fox in the snow.",
        },
        {"intent": "instruct_edit", "params": {"instruction": "make it night", "steps": 2}, "response": "Night falls."},
        {"intent": "chat", "params": {}, "response": "You're welcome!"},
    ]
    async with running_bot(with_paint(tiny_settings), outputs) as r:
        fake, alice = r.fake, r.fake.user("alice")
        thread, mark = await open_thread(fake, alice, "a fox in the snow")
        opener = fake.find("POST", r"/interactions/\d+/[\w-]+/callback", since=mark)[0]
        assert "a fox in the snow" in opener.content and opener.flags == 0  # public: threads hang off it

        status = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=mark)
        assert status.content.startswith("⏳ Queued — position 1") and status.custom_ids == ["dd:cancel:1"]
        first = await final_reply(fake, thread, mark)
        assert first.path.endswith(f"/messages/{status.response['id']}")  # the status message, edited in place
        t1 = turn_of(first)
        assert first.custom_ids == [
            f"dd:vote:up:{t1}",
            f"dd:vote:down:{t1}",
            f"dd:reroll:{t1}",
            f"dd:undo:{t1}",
            f"dd:upscale:{t1}",
            f"dd:vary:{t1}",
            f"dd:details:{t1}",
        ]
        assert [name for name, _ in first.files] == ["image-1.png"] and first.files[0][1].startswith(b"\x89PNG")
        assert "A fox in the snow." in first.content and "#1" in first.content

        mark = fake.mark()
        fake.send_message(alice, "make it night", channel_id=thread)
        second = await final_reply(fake, thread, mark)
        assert [name for name, _ in second.files] == ["image-2.png"] and "Night falls." in second.content

        mark = fake.mark()
        fake.send_message(alice, "thanks!", channel_id=thread)
        third = await final_reply(fake, thread, mark)
        t3 = turn_of(third)
        assert third.files == [] and third.content == "You're welcome!"
        assert third.custom_ids == [f"dd:vote:up:{t3}", f"dd:vote:down:{t3}", f"dd:details:{t3}"]

        sessions = await r.rows(Session)
        assert [(s.platform, s.channel_id, s.owner_id) for s in sessions] == [("discord", str(thread), alice["id"])]
        images = await r.rows(ImageRow)
        assert [(i.number, i.parent_number) for i in images] == [(1, None), (2, 1)]
        turns = await r.rows(Turn)
        assert [t.text for t in turns if t.role == "user"] == ["a fox in the snow", "make it night", "thanks!"]
        seen = r.irpem.calls[2][0]  # the dialogue the IRPEM read for the third turn
        assert [(t.role, t.text, t.images) for t in seen] == [
            ("user", "a fox in the snow", []),
            ("assistant", "A fox in the snow.", [1]),
            ("user", "make it night", []),
            ("assistant", "Night falls.", [2]),
            ("user", "thanks!", []),
        ]


async def test_mention_with_an_attachment_opens_a_session_with_image_1(tiny_settings):
    async with running_bot(with_paint(tiny_settings), [paint("a painting", image="#1")]) as r:
        fake, alice = r.fake, r.fake.user("alice")
        att = fake.attachment("cat.png", png_bytes((40, 30)))
        mark = fake.mark()
        msg = fake.send_message(
            alice, f"<@{fake.app_id}> make this a painting", attachments=[att], mentions=[fake.bot_user]
        )
        created = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages/{msg['id']}/threads", since=mark)
        thread = int(created.response["id"])
        assert created.json["name"] == "make this a painting"
        status = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=mark)
        assert status.content.startswith("#1 received.")
        assert fake.find("GET", att["url"], since=mark)  # downloaded from the CDN
        final = await final_reply(fake, thread, mark)
        assert [name for name, _ in final.files] == ["image-2.png"]
        dialogue = r.irpem.calls[0][0]
        assert dialogue[-1].text == "make this a painting" and dialogue[-1].images == [1]
        images = await r.rows(ImageRow)
        assert [(i.number, i.width, i.height, i.parent_number) for i in images] == [(1, 40, 30, None), (2, 48, 32, 1)]


@pytest.mark.parametrize(
    "filename, data, content_type, size, reason",
    [
        ("huge.png", png_bytes(), "image/png", 11 * 1024 * 1024, "the limit is 10.0 MiB"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png", None, "corrupt"),
        ("notes.txt", b"just some text, not a picture", "text/plain", None, "not an image"),
        ("bomb.png", _bomb(), "image/png", None, "pixels"),
    ],
    ids=["oversized", "corrupt", "not-an-image", "decompression-bomb"],
)
async def test_each_bad_attachment_is_refused_with_its_reason(
    tiny_settings, filename, data, content_type, size, reason
):
    async with running_bot(with_paint(tiny_settings)) as r:
        fake, alice = r.fake, r.fake.user("alice")
        att = fake.attachment(filename, data, content_type, size=size)
        mark = fake.mark()
        fake.send_message(alice, f"<@{fake.app_id}> edit my photo", attachments=[att], mentions=[fake.bot_user])
        reply = await fake.wait_for("POST", r"/channels/\d+/messages", since=mark)
        assert filename in reply.content and reason in reply.content and reply.custom_ids == []
        assert bool(fake.find("GET", att["url"], since=mark)) is (size is None)  # oversized: never downloaded
        assert [t.text for t in await r.rows(Turn)] == ["edit my photo"]  # the turn is kept
        assert await r.rows(Job) == [] and await r.rows(ImageRow) == []


async def test_an_over_long_message_is_refused_and_stored(tiny_settings):
    async with running_bot(with_paint(tiny_settings), [paint("a fox")]) as r:
        fake, alice = r.fake, r.fake.user("alice")
        thread, mark = await open_thread(fake, alice, "a fox")
        await final_reply(fake, thread, mark)
        mark = fake.mark()
        text = "draw " + "a very long fox " * 400
        fake.send_message(alice, text, channel_id=thread)
        reply = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=mark)
        assert "limit is 4,000" in reply.content
        assert (await r.rows(Turn))[-1].text == text.strip() and len(await r.rows(Job)) == 1


async def test_only_the_owner_talks_unless_the_server_says_anyone(tiny_settings):
    async with running_bot(with_paint(tiny_settings), [paint("a fox"), paint("a bear")]) as r:
        fake, alice, bob = r.fake, r.fake.user("alice"), r.fake.user("bob")
        thread, mark = await open_thread(fake, alice, "a fox")
        first = await final_reply(fake, thread, mark)

        mark = fake.mark()
        fake.send_message(bob, "add a bear", channel_id=thread)
        fake.click(fake.message_payload(first.response["id"]), f"dd:reroll:{turn_of(first)}", user=bob)
        await fake.wait_for("POST", r"/interactions/\d+/[\w-]+/callback", since=mark)  # acknowledged first
        refusal = await fake.wait_for("POST", r"/webhooks/\d+/[\w-]+", since=mark)
        assert refusal.flags & 64 and "Only the person who started this thread" in refusal.content
        await asyncio.sleep(0.2)
        assert fake.find("POST", rf"/channels/{thread}/messages", since=mark) == []
        assert [t.text for t in await r.rows(Turn) if t.role == "user"] == ["a fox"]

        fake.slash("settings", [{"name": "who_can_talk", "type": 3, "value": "anyone"}], user=alice, permissions=1 << 5)
        await fake.wait_for("POST", r"/interactions/\d+/[\w-]+/callback", since=mark, count=2)
        mark = fake.mark()
        fake.send_message(bob, "add a bear", channel_id=thread)
        await final_reply(fake, thread, mark)
        assert [t.author_id for t in await r.rows(Turn) if t.role == "user"] == [alice["id"], bob["id"]]


async def test_a_button_of_a_message_from_an_earlier_client_works_after_restart(tiny_settings):
    settings = with_paint(tiny_settings)
    async with running_bot(settings, [paint("a boat")]) as first_run:
        fake, alice, bob = first_run.fake, first_run.fake.user("alice"), first_run.fake.user("bob")
        thread, mark = await open_thread(fake, alice, "a boat")
        reply = await final_reply(fake, thread, mark)
    old_message = fake.message_payload(reply.response["id"])
    turn = turn_of(reply)

    async with running_bot(settings, [], fake=fake) as second_run:  # a new process, same DB
        mark = fake.mark()
        fake.click(old_message, f"dd:vote:up:{turn}", user=bob)
        ack = await fake.wait_for("POST", r"/interactions/\d+/[\w-]+/callback", since=mark)
        assert ack.flags & 64 and "Thanks" in ack.content

        mark = fake.mark()
        fake.click(old_message, f"dd:reroll:{turn}", user=alice)
        deferred = await fake.wait_for("POST", r"/interactions/\d+/[\w-]+/callback", since=mark)
        assert deferred.json["type"] == 6  # acknowledged; the answer comes in the thread
        rerolled = await final_reply(fake, thread, mark)
        assert [name for name, _ in rerolled.files] == ["image-2.png"]
        assert second_run.irpem.calls == []  # a reroll repeats the intent: no IRPEM call
        jobs = await second_run.rows(Job)
        assert jobs[-1].payload["forced_intent"]["params"]["prompt"] == "a boat"
        assert [t.text for t in await second_run.rows(Turn) if t.role == "user"] == ["a boat", "🔁 reroll #1"]


async def test_a_job_left_queued_by_a_stopped_bot_is_answered_in_its_status_message(tiny_settings):
    settings = with_paint(tiny_settings)
    remote = settings.model_copy(update={"queue": settings.queue.model_copy(update={"mode": "remote"})})
    async with running_bot(remote, []) as first_run:  # no worker: the job stays queued
        fake, alice = first_run.fake, first_run.fake.user("alice")
        thread, mark = await open_thread(fake, alice, "a lighthouse")
        status = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=mark)
    mark = fake.mark()
    async with running_bot(settings, [paint("a lighthouse")], fake=fake):
        final = await final_reply(fake, thread, mark)
        assert final.path == f"/channels/{thread}/messages/{status.response['id']}"
        assert [name for name, _ in final.files] == ["image-1.png"]


async def test_the_queue_serves_two_users_round_robin(tiny_settings):
    settings = with_paint(tiny_settings)
    remote = settings.model_copy(update={"queue": settings.queue.model_copy(update={"mode": "remote"})})
    outputs = [paint("alice 1"), paint("bob 1"), paint("alice 2")]  # in the order they are served
    async with running_bot(remote, outputs) as r:
        fake, alice, bob = r.fake, r.fake.user("alice"), r.fake.user("bob")
        thread_a, mark = await open_thread(fake, alice, "alice 1")
        await fake.wait_for("POST", rf"/channels/{thread_a}/messages", since=mark)
        mark_a2 = fake.mark()
        fake.send_message(alice, "alice 2", channel_id=thread_a)
        await fake.wait_for("POST", rf"/channels/{thread_a}/messages", since=mark_a2)
        thread_b, mark_b = await open_thread(fake, bob, "bob 1")
        await fake.wait_for("POST", rf"/channels/{thread_b}/messages", since=mark_b)

        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(r.app.queue, r.app.engine).run(stop))
        try:
            await final_reply(fake, thread_a, mark, count=2)
            await final_reply(fake, thread_b, mark_b)
        finally:
            stop.set()
            await worker
        jobs = await r.rows(Job)
        served = sorted(jobs, key=lambda j: j.claim_seq)
        asked = {t.id: t.text for t in await r.rows(Turn)}
        assert [(j.user_id, asked[j.turn_id]) for j in served] == [
            (alice["id"], "alice 1"),
            (bob["id"], "bob 1"),
            (alice["id"], "alice 2"),
        ]
        finals = [q for q in fake.requests[mark:] if q.method == "PATCH" and is_final(q)]
        assert [q.content.split("\n")[0] for q in finals] == ["Painted alice 1.", "Painted bob 1.", "Painted alice 2."]
