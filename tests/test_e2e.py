"""A dialogue through the whole embedded default: conversation -> DB queue -> worker ->
tiny diffusers/transformers pipelines -> session store. The intent model is scripted."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from PIL import Image
from pydantic import Field
from sqlalchemy import select

from bot.app import embedded
from bot.conversation import Attachment
from bot.store.models import Image as ImageRow
from bot.store.models import Job, Turn
from engine.config import PipelineInstance
from engine.imageio import encode_png
from engine.irpem.scripted import ScriptedIrpem
from engine.registry import Cancelled, Inputs, PipelineKind, PipelineOutput, Registry, register_kind
from engine.runtime import Engine


def scripted_engine(settings, outputs) -> Engine:
    registry = Registry.from_settings(settings)
    return Engine(settings, registry, irpem=ScriptedIrpem([json.dumps(o) for o in outputs]))


FOX_DIALOGUE = [
    (
        "a fox in a snowy forest",
        {
            "intent": "text2image",
            "params": {"prompt": "a fox in a snowy forest", "steps": 3},
            "response": "A fox in the snow.",
        },
    ),
    (
        "make it night",
        {"intent": "instruct_edit", "params": {"instruction": "make it night", "steps": 3}, "response": "Night falls."},
    ),
    (
        "what animal is this?",
        {"intent": "vqa", "params": {"question": "what animal is this?"}, "response": "Let me look."},
    ),
    ("undo that", {"intent": "undo", "params": {}, "response": "Back to the daytime fox."}),
]


async def rows(app, model, **where):
    async with app.conversation.db.sessionmaker() as s:
        stmt = select(model).filter_by(**where).order_by(model.id)
        return list((await s.execute(stmt)).scalars())


@pytest.mark.slow
async def test_four_turn_dialogue_end_to_end(tiny_settings):
    engine = scripted_engine(tiny_settings, [out for _, out in FOX_DIALOGUE])
    async with embedded(tiny_settings, engine=engine) as app:
        conv = app.conversation
        sid = await conv.open_session("terminal", None, "alice")
        outcomes = []
        for text, _ in FOX_DIALOGUE:
            receipt = await conv.user_turn(sid, "alice", text)
            assert receipt.refusal is None and receipt.job_id is not None
            progress = []

            async def on_progress(ev, progress=progress):
                progress.append(ev)

            outcomes.append(await asyncio.wait_for(conv.wait(receipt.job_id, on_progress), 120))

        gen, edit, vqa, undo = outcomes
        assert [o.status for o in outcomes] == ["done"] * 4
        assert [i.number for i in gen.images] == [1] and gen.current_image == 1
        assert [i.number for i in edit.images] == [2] and edit.current_image == 2
        assert Image.open(gen.images[0].path).size == Image.open(edit.images[0].path).size
        assert vqa.images == [] and vqa.reply and vqa.reply != "Let me look."  # the VQA model answered
        assert undo.images == [] and undo.current_image == 1
        assert undo.intent["intent"] == "undo"

        images = await rows(app, ImageRow, session_id=sid)
        assert [(i.number, i.parent_number) for i in images] == [(1, None), (2, 1)]
        turns = await rows(app, Turn, session_id=sid)
        assert [t.role for t in turns] == ["user", "assistant"] * 4
        assert [t.text for t in turns if t.role == "user"] == [t for t, _ in FOX_DIALOGUE]
        assert images[1].turn_id == turns[3].id  # produced by the second assistant turn
        jobs = await rows(app, Job, session_id=sid)
        assert [j.status for j in jobs] == ["done"] * 4
        # the IRPEM saw the dialogue so far: the last job's request holds 7 turns
        assert len(jobs[-1].payload["dialogue"]) == 7
        assert jobs[-1].payload["current_image"] == 2


@pytest.mark.slow
async def test_progress_events_reach_the_front_end(tiny_settings):
    engine = scripted_engine(tiny_settings, [FOX_DIALOGUE[0][1]])
    async with embedded(tiny_settings, engine=engine) as app:
        sid = await app.conversation.open_session("terminal", None, "bob")
        receipt = await app.conversation.user_turn(sid, "bob", "a fox")
        events = []

        async def on_progress(ev):
            events.append(ev)

        outcome = await asyncio.wait_for(app.conversation.wait(receipt.job_id, on_progress), 120)
        assert outcome.status == "done"
        steps = [e.step for e in events if e.stage == "step"]
        assert steps == sorted(steps) and steps[-1] == 3


@pytest.mark.slow
async def test_attachment_becomes_an_image_the_edit_uses(tiny_settings):
    out = {"intent": "adjust", "params": {"property": "brightness", "amount": 0.5}, "response": "Brighter."}
    engine = scripted_engine(tiny_settings, [out])
    async with embedded(tiny_settings, engine=engine) as app:
        conv = app.conversation
        sid = await conv.open_session("terminal", None, "carol")
        photo = encode_png(Image.new("RGB", (40, 30), (100, 100, 100)))
        receipt = await conv.user_turn(sid, "carol", "brighten this", [Attachment("photo.png", photo)])
        assert receipt.attached == [1]
        outcome = await asyncio.wait_for(conv.wait(receipt.job_id), 60)
        assert outcome.status == "done" and [i.number for i in outcome.images] == [2]
        result = Image.open(outcome.images[0].path)
        assert result.size == (40, 30) and result.getpixel((0, 0))[0] > 100
        images = await rows(app, ImageRow, session_id=sid)
        assert [(i.number, i.parent_number) for i in images] == [(1, None), (2, 1)]


@pytest.mark.slow
async def test_job_left_running_by_a_dead_process_is_resumed_at_start(tiny_settings):
    remote = tiny_settings.model_copy(update={"queue": tiny_settings.queue.model_copy(update={"mode": "remote"})})
    async with embedded(remote) as app:  # a process whose worker claims the job, then dies
        sid = await app.conversation.open_session("terminal", None, "ivy")
        receipt = await app.conversation.user_turn(sid, "ivy", "a fox in a snowy forest")
        claimed = await app.queue.claim("worker-that-dies")
        assert claimed.job_id == receipt.job_id
    engine = scripted_engine(tiny_settings, [FOX_DIALOGUE[0][1]])
    async with embedded(tiny_settings, engine=engine) as app:  # the next start
        outcome = await asyncio.wait_for(app.conversation.wait(receipt.job_id), 120)
        assert outcome.status == "done" and [i.number for i in outcome.images] == [1]
        jobs = await rows(app, Job, session_id=sid)
        assert len(jobs) == 1 and jobs[0].attempts == 2
        turns = await rows(app, Turn, session_id=sid)
        assert [t.role for t in turns] == ["user", "assistant"]


class SlowSteps(Inputs):
    steps: int = Field(default=200, ge=1, le=1000)


@register_kind
class SlowKind(PipelineKind):
    """A test-only kind: many slow steps, each reporting progress and honouring cancel;
    ``started`` tells a test that it is running."""

    kind = "test_slow"
    type = "generate"
    description = "Test kind that takes a while."
    Inputs = SlowSteps
    stopped_at: int | None = None
    started = threading.Event()

    def __call__(self, inputs, ctx):
        for step in range(inputs.steps):
            SlowKind.started.set()
            if ctx.cancelled():
                SlowKind.stopped_at = step
                raise Cancelled()
            time.sleep(0.02)
            ctx.progress(step + 1, inputs.steps)
        return PipelineOutput(images=[Image.new("RGB", (8, 8))])


@pytest.mark.slow
async def test_cancel_stops_a_running_job_and_the_worker_goes_on(tiny_settings):
    settings = tiny_settings.model_copy(
        update={"pipelines": [*tiny_settings.pipelines, PipelineInstance(id="slow", kind="test_slow")]}
    )
    engine = scripted_engine(
        settings,
        [
            {"intent": "slow", "params": {}, "response": ""},
            {"intent": "chat", "params": {}, "response": "Still here."},
        ],
    )
    SlowKind.stopped_at = None
    async with embedded(settings, engine=engine) as app:
        conv = app.conversation
        sid = await conv.open_session("terminal", None, "jo")
        receipt = await conv.user_turn(sid, "jo", "take your time")
        steps = []

        async def on_progress(ev):
            if ev.stage == "step":
                steps.append(ev.step)
                if len(steps) == 3:
                    assert await conv.cancel(receipt.job_id, "jo")

        outcome = await asyncio.wait_for(conv.wait(receipt.job_id, on_progress), 60)
        assert outcome.status == "cancelled" and outcome.images == []
        for _ in range(100):  # the worker notices at its next cancel poll
            if SlowKind.stopped_at is not None:
                break
            await asyncio.sleep(0.05)
        assert SlowKind.stopped_at is not None and 3 <= SlowKind.stopped_at < 200
        nxt = await conv.user_turn(sid, "jo", "are you there?")
        reply = await asyncio.wait_for(conv.wait(nxt.job_id), 30)
        assert reply.status == "done" and reply.reply == "Still here."
        assert [j.status for j in await rows(app, Job, session_id=sid)] == ["cancelled", "done"]
        assert await rows(app, ImageRow, session_id=sid) == []
