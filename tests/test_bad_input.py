"""Bad input gets a clear message, nothing is executed, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib

import pytest
from sqlalchemy import select

from bot.app import embedded
from bot.conversation import Attachment
from bot.store.models import Image as ImageRow
from bot.store.models import Job, Turn
from engine.irpem.scripted import ScriptedIrpem
from engine.registry import Registry
from engine.runtime import Engine


class CountingEngine(Engine):
    """The real engine, counting how often a pipeline is actually run."""

    runs = 0

    def run(self, *args, **kwargs):
        CountingEngine.runs += 1
        return super().run(*args, **kwargs)


def engine_with(settings, *outputs) -> CountingEngine:
    CountingEngine.runs = 0
    return CountingEngine(
        settings, Registry.from_settings(settings), irpem=ScriptedIrpem([json.dumps(o) for o in outputs])
    )


async def all_rows(app, model):
    async with app.conversation.db.sessionmaker() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


@pytest.mark.parametrize(
    "output, message",
    [
        ({"intent": "teleport", "params": {}, "response": ""}, "unknown pipeline 'teleport'"),
        ({"intent": "text2image", "params": {}, "response": ""}, "missing required input 'prompt'"),
        ({"intent": "adjust", "params": {"property": "hue", "amount": 3}, "response": ""}, "input 'amount'"),
        ({"intent": "instruct_edit", "params": {"instruction": "make it red"}, "response": ""}, "needs an image"),
        ({"intent": "revert", "params": {"image": "#4"}, "response": ""}, "no image #4"),
    ],
)
async def test_invalid_intent_fails_the_job_clearly_and_runs_nothing(tiny_settings, output, message):
    async with embedded(tiny_settings, engine=engine_with(tiny_settings, output)) as app:
        sid = await app.conversation.open_session("terminal", None, "dave")
        receipt = await app.conversation.user_turn(sid, "dave", "do the thing")
        outcome = await asyncio.wait_for(app.conversation.wait(receipt.job_id), 30)
        assert outcome.status == "failed"
        assert message in outcome.error and outcome.error.startswith("I couldn't do that")
        assert CountingEngine.runs == 0
        turns = await all_rows(app, Turn)
        assert turns[0].text == "do the thing"  # the turn is kept
        jobs = await all_rows(app, Job)
        assert jobs[0].attempts == 1  # not retried: the same answer would fail again


def _bomb() -> bytes:
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "attachment, reason",
    [
        (Attachment("notes.txt", b"just some text, not a picture"), "not an image"),
        (Attachment("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "corrupt"),
        (Attachment("huge.png", b"\x89PNG" + b"\0" * (11 * 1024 * 1024)), "too large"),
        (Attachment("bomb.png", _bomb()), "pixels"),
    ],
)
async def test_bad_attachment_is_refused_and_the_turn_kept(tiny_settings, attachment, reason):
    async with embedded(tiny_settings, engine=engine_with(tiny_settings)) as app:
        sid = await app.conversation.open_session("terminal", None, "erin")
        receipt = await app.conversation.user_turn(sid, "erin", "edit my photo", [attachment])
        assert receipt.job_id is None
        assert attachment.filename in receipt.refusal and reason in receipt.refusal
        assert [t.text for t in await all_rows(app, Turn)] == ["edit my photo"]
        assert await all_rows(app, Job) == [] and await all_rows(app, ImageRow) == []


async def test_huge_message_is_refused_and_stored_whole(tiny_settings):
    async with embedded(tiny_settings, engine=engine_with(tiny_settings)) as app:
        sid = await app.conversation.open_session("terminal", None, "fay")
        text = "draw " + "a very long fox " * 6250  # ~100 kB
        receipt = await app.conversation.user_turn(sid, "fay", text)
        assert receipt.job_id is None and "limit is 4,000" in receipt.refusal
        turns = await all_rows(app, Turn)
        assert turns[0].text == text
        assert await all_rows(app, Job) == []


async def test_per_user_concurrent_job_limit(tiny_settings):
    settings = tiny_settings.model_copy(update={"queue": tiny_settings.queue.model_copy(update={"mode": "remote"})})
    async with embedded(settings) as app:  # no worker: jobs stay queued
        sid = await app.conversation.open_session("terminal", None, "gus")
        first = await app.conversation.user_turn(sid, "gus", "a cat")
        second = await app.conversation.user_turn(sid, "gus", "a dog")
        third = await app.conversation.user_turn(sid, "gus", "a cow")
        assert first.job_id and second.job_id and third.job_id is None
        assert "limit is 2" in third.refusal
        other = await app.conversation.user_turn(sid, "hal", "a hen")
        assert other.job_id is not None
        assert len(await all_rows(app, Turn)) == 4
