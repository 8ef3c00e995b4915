"""Buttons that collect feedback, and the preference pairs it yields (through Discord)."""

from __future__ import annotations

import json

from bot.store import feedback, jobs, sessions
from bot.store.models import Feedback, Job, Session
from bot.store.preferences import preference_pairs
from tests.bot_harness import final_reply, open_thread, paint, running_bot, turn_of, with_paint
from tests.discord_recorder import MANAGE_GUILD

CALLBACK = r"/interactions/\d+/[\w-]+/callback"


async def test_a_vote_changed_twice_is_one_row(tiny_settings):
    async with running_bot(with_paint(tiny_settings), [paint("a fox")]) as r:
        fake, alice, bob = r.fake, r.fake.user("alice"), r.fake.user("bob")
        thread, mark = await open_thread(fake, alice, "a fox")
        reply = await final_reply(fake, thread, mark)
        message, turn = fake.message_payload(reply.response["id"]), turn_of(reply)
        for n, (user, kind) in enumerate([(alice, "up"), (alice, "down"), (alice, "up"), (bob, "down")], 1):
            fake.click(message, f"dd:vote:{kind}:{turn}", user=user)
            ack = await fake.wait_for("POST", CALLBACK, since=mark, count=n + 1)  # +1: the /draw reply
            assert ack.flags & 64 and "Thanks" in ack.content
        rows = await r.rows(Feedback)
        assert sorted((f.user_id, f.kind) for f in rows) == sorted([(alice["id"], "up"), (bob["id"], "down")])


async def test_details_are_shown_only_to_the_clicker(tiny_settings):
    async with running_bot(with_paint(tiny_settings), [paint("a fox", steps=2)]) as r:
        fake, alice = r.fake, r.fake.user("alice")
        thread, mark = await open_thread(fake, alice, "a fox")
        reply = await final_reply(fake, thread, mark)
        mark = fake.mark()
        fake.click(fake.message_payload(reply.response["id"]), f"dd:details:{turn_of(reply)}", user=fake.user("carol"))
        shown = await fake.wait_for("POST", CALLBACK, since=mark)
        assert shown.json["type"] == 4 and shown.flags & 64
        body = json.loads(shown.content.removeprefix("```json\n").removesuffix("\n```"))
        assert body["intent"] == {
            "intent": "paint",
            "params": {"prompt": "a fox", "steps": 2},
            "response": "Painted a fox.",
        }


async def test_ab_choice_and_neither_correction_make_the_right_preference_pairs(tiny_settings):
    red = paint("a red fox", "A red fox.")
    orange = paint("an orange fox", "An orange fox.")
    night = paint("a fox at night", "Night.")
    moon = {"intent": "chat", "params": {}, "response": "It's a fox."}
    async with running_bot(with_paint(tiny_settings), [red, orange, night, moon]) as r:
        fake, alice = r.fake, r.fake.user("alice")
        mark = fake.mark()
        fake.slash(
            "settings", [{"name": "ab_probability", "type": 10, "value": 1.0}], user=alice, permissions=MANAGE_GUILD
        )
        await fake.wait_for("POST", CALLBACK, since=mark)
        r.app.conversation.rng.seed(0)

        thread, mark = await open_thread(fake, alice, "a fox")
        ab = await final_reply(fake, thread, mark)
        turn1 = turn_of(ab)
        assert ab.custom_ids == [f"dd:ab:a:{turn1}", f"dd:ab:b:{turn1}", f"dd:ab:neither:{turn1}"]
        assert [name for name, _ in ab.files] == ["A-image-1.png", "B-image-2.png"]
        assert "A red fox." in ab.content and "An orange fox." in ab.content
        assert r.irpem.calls[0][3]["sample"] and r.irpem.calls[1][3]["sample"]  # two sampled candidates

        mark = fake.mark()
        fake.click(fake.message_payload(ab.response["id"]), f"dd:ab:b:{turn1}", user=alice)
        picked = await fake.wait_for("POST", CALLBACK, since=mark)
        assert picked.json["type"] == 7 and picked.content.startswith("**B** it is")  # the message is updated
        assert f"dd:vote:up:{turn1}" in picked.custom_ids
        (session,) = await r.rows(Session)
        assert session.current_image_number == 2  # the dialogue goes on from B's picture

        mark = fake.mark()
        fake.send_message(alice, "make it night", channel_id=thread)
        ab2 = await final_reply(fake, thread, mark)
        turn2 = turn_of(ab2)
        mark = fake.mark()
        fake.click(fake.message_payload(ab2.response["id"]), f"dd:ab:neither:{turn2}", user=alice)
        modal = await fake.wait_for("POST", CALLBACK, since=mark)
        assert modal.json["type"] == 9 and modal.json["data"]["custom_id"] == f"dd:correct:{turn2}"

        mark = fake.mark()
        fake.submit_modal(
            f"dd:correct:{turn2}", {"intent": "paint", "text": "a fox under a full moon"}, user=alice, channel_id=thread
        )
        thanks = await fake.wait_for("POST", CALLBACK, since=mark)
        assert thanks.flags & 64 and "learn" in thanks.content
        corrected = await final_reply(fake, thread, mark)
        assert [name for name, _ in corrected.files] == ["image-4.png"]  # #3 was candidate A of turn 2
        jobs = await r.rows(Job)
        assert jobs[-1].payload["forced_intent"]["params"]["prompt"] == "a fox under a full moon"

        pairs = await preference_pairs(r.app.conversation.db)
        assert [p.source for p in pairs] == ["ab", "correction", "correction"]
        assert (pairs[0].chosen, pairs[0].rejected) == (orange, red)
        assert [(t.role, t.text) for t in pairs[0].context.dialogue] == [("user", "a fox")]
        want = {"intent": "paint", "params": {"prompt": "a fox under a full moon", "steps": 3}, "response": ""}
        assert [p.chosen for p in pairs[1:]] == [want, want]
        assert [p.rejected for p in pairs[1:]] == [night, moon]
        ctx = pairs[1].context
        assert ctx.current_image == 2 and [t.text for t in ctx.dialogue][-1] == "make it night"
        assert pairs[1].provenance["turn"] == turn2 and pairs[1].provenance["user"] == alice["id"]

        mark = fake.mark()
        fake.slash("feedback export", user=alice, permissions=MANAGE_GUILD)
        export = await fake.wait_for("POST", r"/webhooks/\d+/[\w-]+", since=mark)
        ((name, data),) = export.files
        assert name == "preference-pairs.jsonl" and export.flags & 64
        assert [json.loads(line) for line in data.decode().splitlines()] == [p.to_dict() for p in pairs]


async def test_votes_on_two_answers_to_one_context_make_a_vote_pair(db, store):
    """👍 on one answer and 👎 on another, both given the same context, prefer the first."""
    from bot.store.jobqueue import DbJobQueue
    from bot.store.models import utcnow
    from engine.config import Limits
    from engine.queue import JobResult
    from engine.session import Ticket

    queue = DbJobQueue(db, store)
    turns = []
    for channel, answer in (("55", "vqa"), ("56", "chat")):  # one question, in two threads
        session = await sessions.open_session(db, "discord", channel, "u1", "g1")
        (stored,) = await sessions.add_turns(
            db,
            [sessions.NewTurn(session.id, "u1", "what is this?", [], Ticket(seed=1, ab_draw=1.0, limits=Limits()))],
            since=utcnow(),
        )
        assert (await queue.claim("w")).job_id == stored.job.id
        recorded = await jobs.record_result(
            db, stored.job.id, JobResult({"intent": answer, "params": {}, "response": answer}, answer), store
        )
        turns.append(recorded.turn.id)
    await feedback.set_vote(db, turns[0], "u1", "up")
    await feedback.set_vote(db, turns[1], "u1", "down")
    pairs = await preference_pairs(db)
    assert [(p.source, p.chosen["intent"], p.rejected["intent"]) for p in pairs] == [("vote", "vqa", "chat")]
    assert pairs[0].context.dialogue[0].text == "what is this?"
    assert await preference_pairs(db, guild_id="another") == []
