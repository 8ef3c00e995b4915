"""The ✖ cancel button and the status message of a job (queue position, progress, throttled
edits, replaced by the final message), through the real discord.py client and the
recording fake of Discord (tests/discord_recorder.py).

Jobs that must still be running (or still be waiting behind one) when a click or a check
arrives use a ``gate`` pipeline: it reports its steps, then blocks on a ``threading.Event``
that the test opens, so "the job is running" is a state the test waits for, not a sleep."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image

from bot.conversation import NOT_YOURS
from bot.store.models import Image as ImageRow
from bot.store.models import Job
from engine.config import PipelineInstance
from engine.registry import KINDS, Cancelled, PipelineOutput, register_kind
from tests.bot_harness import Paint, final_reply, is_final, open_thread, paint, running_bot, with_paint

CALLBACK = r"/interactions/\d+/[\w-]+/callback"
CANCELLED_TEXT = "✖ Cancelled."
GATE_TIMEOUT = 30.0  # a gate nobody opens lets its job finish anyway (never hangs a test run)


@dataclass
class Gate:
    opened: threading.Event = field(default_factory=threading.Event)
    heed_cancel: bool = True  # False: a pipeline that never checks for cancellation
    step_seconds: float = 0.0  # how long each step takes
    stopped: bool = False  # the pipeline saw the cancellation and raised Cancelled
    finished: bool = False  # the pipeline returned its picture


GATES: dict[str, Gate] = {}  # prompt -> its gate


class GatedPaint(Paint):
    """Like the harness's ``paint``, but it waits at its gate (its prompt's) after the last
    step, checking for cancellation as a real pipeline does between steps. While it waits
    it repeats its last step now and then: the job may have reached the gate before the
    bot's follower of the job subscribed to its events (they are not replayed)."""

    kind = "gate"
    description = "Paint a flat picture once the test allows it (tests)."

    def __call__(self, inputs, ctx) -> PipelineOutput:
        gate = GATES.get(inputs.prompt)
        if gate is None:  # no gate for this prompt: an open one
            gate = Gate()
            gate.opened.set()
        for step in range(inputs.steps):
            if step:
                gate.opened.wait(gate.step_seconds)  # a step takes its time (unless opened)
            ctx.progress(step + 1, inputs.steps)
        for tick in range(int(GATE_TIMEOUT / 0.01)):
            if gate.opened.wait(0.01):
                break
            if tick % 5 == 4:  # still at the last step (for a follower that started listening late)
                ctx.progress(inputs.steps, inputs.steps)
            if gate.heed_cancel and ctx.cancelled():
                gate.stopped = True
                raise Cancelled(inputs.prompt)
        gate.finished = True
        return PipelineOutput(images=[Image.new("RGB", (48, 32), (200, 40, 40))])


if "gate" not in KINDS:
    register_kind(GatedPaint)


@contextlib.contextmanager
def gates(*prompts: str, heed_cancel: bool = True) -> Iterator[dict[str, Gate]]:
    """Closed gates for these prompts; all opened on the way out, so a worker blocked on
    one can finish and the bot shut down."""
    made = {p: Gate(heed_cancel=heed_cancel) for p in prompts}
    GATES.update(made)
    try:
        yield made
    finally:
        for prompt, gate in made.items():
            gate.opened.set()
            GATES.pop(prompt, None)


def gated(prompt: str, steps: int = 3) -> dict:
    return {"intent": "gate", "params": {"prompt": prompt, "steps": steps}, "response": f"Painted {prompt}."}


def settings_with_gate(tiny_settings, **bot_changes):
    settings = with_paint(tiny_settings, **bot_changes)
    return settings.model_copy(update={"pipelines": [*settings.pipelines, PipelineInstance(id="gate", kind="gate")]})


def status_path(thread: int, message_id) -> str:
    return rf"/channels/{thread}/messages/{message_id}"


def shows(text: str):
    return lambda req: text in (req.content or "")


async def running_status(fake, thread: int, since: int, steps: int = 3):
    """The status message of the thread's job, once it shows the job's last step (the
    gate pipeline then waits: the job is running)."""
    status = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=since)
    await fake.wait_for(
        "PATCH", status_path(thread, status.response["id"]), since=since, where=shows(f"step {steps}/{steps}")
    )
    return status


def index_of(fake, req) -> int:
    return next(i for i, q in enumerate(fake.requests) if q is req)


def uploads(fake, since: int = 0) -> list[str]:
    return [name for req in fake.requests[since:] for name, _ in req.files]


# ----- the cancel button -----


async def test_the_owner_cancels_a_running_job_and_the_worker_serves_the_next_turn(tiny_settings):
    outputs = [gated("a slow fox"), paint("a bear")]
    async with running_bot(settings_with_gate(tiny_settings), outputs) as r:
        with gates("a slow fox") as gate:
            fake, alice, bob = r.fake, r.fake.user("alice"), r.fake.user("bob")
            thread, mark = await open_thread(fake, alice, "a slow fox")
            status = await running_status(fake, thread, mark)
            (job,) = await r.rows(Job)
            assert job.status == "running" and status.custom_ids == [f"dd:cancel:{job.id}"]
            message = fake.message_payload(status.response["id"])
            edits = status_path(thread, status.response["id"])

            # Bob may not talk in Alice's thread: refused, only to him, and nothing moves.
            mark = fake.mark()
            fake.click(message, f"dd:cancel:{job.id}", user=bob)
            refusal = await fake.wait_for("POST", CALLBACK, since=mark)
            assert refusal.json["type"] == 4 and refusal.flags & 64 and refusal.content == NOT_YOURS
            assert [j.status for j in await r.rows(Job)] == ["running"]
            assert fake.find("PATCH", edits, since=mark) == []

            mark = fake.mark()
            fake.click(message, f"dd:cancel:{job.id}", user=alice)
            ack = await fake.wait_for("POST", CALLBACK, since=mark)
            assert ack.json["type"] == 6  # acknowledged; the status message tells the rest
            final = await final_reply(fake, thread, mark)
            assert final.path == edits  # the status message itself says so
            assert final.content == CANCELLED_TEXT and final.components == [] and final.files == []
            (job,) = await r.rows(Job)
            assert job.status == "cancelled" and job.finished_at is not None

            # The worker stops the pipeline (its gate never opened) and serves the next turn.
            mark = fake.mark()
            fake.send_message(alice, "a bear", channel_id=thread)
            nxt = await final_reply(fake, thread, mark)
            assert gate["a slow fox"].stopped and not gate["a slow fox"].finished
            assert [name for name, _ in nxt.files] == ["image-1.png"] and "Painted a bear." in nxt.content
            assert [j.status for j in await r.rows(Job)] == ["cancelled", "done"]
            assert [(i.number, i.parent_number) for i in await r.rows(ImageRow)] == [(1, None)]
            assert uploads(fake) == ["image-1.png"]  # nothing was ever uploaded for the cancelled job
            assert fake.find("PATCH", edits, since=mark) == []  # the cancelled message stays as it is


async def test_a_late_result_of_a_cancelled_job_is_dropped(tiny_settings):
    """A pipeline that never checks for cancellation runs to its end: its picture is not
    stored as a session image, not uploaded, and the message still says it was cancelled."""
    outputs = [gated("a stubborn fox"), paint("a bear")]
    async with running_bot(settings_with_gate(tiny_settings), outputs) as r:
        with gates("a stubborn fox", heed_cancel=False) as gate:
            fake, alice = r.fake, r.fake.user("alice")
            thread, mark = await open_thread(fake, alice, "a stubborn fox")
            status = await running_status(fake, thread, mark)
            (job,) = await r.rows(Job)
            mark = fake.mark()
            fake.click(fake.message_payload(status.response["id"]), f"dd:cancel:{job.id}", user=alice)
            final = await final_reply(fake, thread, mark)
            assert final.content == CANCELLED_TEXT and final.files == []

            gate["a stubborn fox"].opened.set()  # the pipeline delivers after all
            fake.send_message(alice, "a bear", channel_id=thread)
            nxt = await final_reply(fake, thread, mark, count=2)  # the worker ran the bear after the fox
            assert gate["a stubborn fox"].finished
            assert [j.status for j in await r.rows(Job)] == ["cancelled", "done"]
            assert [i.number for i in await r.rows(ImageRow)] == [1]
            assert [name for name, _ in nxt.files] == ["image-1.png"] and uploads(fake) == ["image-1.png"]
            assert fake.message_payload(status.response["id"])["content"] == CANCELLED_TEXT


async def test_the_owner_cancels_a_queued_job_which_then_never_runs(tiny_settings):
    outputs = [gated("a slow owl"), paint("a kite")]  # no answer for "a boat": it must never run
    async with running_bot(settings_with_gate(tiny_settings), outputs) as r:
        with gates("a slow owl") as gate:
            fake, alice, bob, carol = r.fake, r.fake.user("alice"), r.fake.user("bob"), r.fake.user("carol")
            thread_a, mark_a = await open_thread(fake, alice, "a slow owl")
            await running_status(fake, thread_a, mark_a)

            thread_b, mark = await open_thread(fake, bob, "a boat")
            queued = await fake.wait_for("POST", rf"/channels/{thread_b}/messages", since=mark)
            owl, boat = await r.rows(Job)
            assert queued.content == "⏳ Queued — position 1" and queued.custom_ids == [f"dd:cancel:{boat.id}"]
            assert (owl.status, boat.status) == ("running", "queued")
            message = fake.message_payload(queued.response["id"])
            stale = {**message}  # a copy of the message as a client that missed the edit shows it

            mark = fake.mark()
            fake.click(message, f"dd:cancel:{boat.id}", user=carol)
            refusal = await fake.wait_for("POST", CALLBACK, since=mark)
            assert refusal.flags & 64 and refusal.content == NOT_YOURS
            assert [j.status for j in await r.rows(Job)] == ["running", "queued"]

            mark = fake.mark()
            fake.click(message, f"dd:cancel:{boat.id}", user=bob)
            ack = await fake.wait_for("POST", CALLBACK, since=mark)
            assert ack.json["type"] == 6
            final = await final_reply(fake, thread_b, mark)
            assert final.path == status_path(thread_b, queued.response["id"])
            assert final.content == CANCELLED_TEXT and final.components == [] and final.files == []
            assert [j.status for j in await r.rows(Job)] == ["running", "cancelled"]

            mark = fake.mark()
            fake.click(stale, f"dd:cancel:{boat.id}", user=bob)  # a second click: nothing to cancel
            again = await fake.wait_for("POST", CALLBACK, since=mark)
            assert again.flags & 64 and "already finished" in again.content

            gate["a slow owl"].opened.set()
            owl_final = await final_reply(fake, thread_a, mark_a)
            assert [name for name, _ in owl_final.files] == ["image-1.png"]

            mark = fake.mark()
            fake.send_message(bob, "a kite", channel_id=thread_b)
            kite = await final_reply(fake, thread_b, mark)
            assert [name for name, _ in kite.files] == ["image-1.png"]  # bob's first picture
            assert [j.status for j in await r.rows(Job)] == ["done", "cancelled", "done"]
            # The cancelled job never reached the IRPEM (nor a pipeline).
            assert [call[0][-1].text for call in r.irpem.calls] == ["a slow owl", "a kite"]
            assert [t.text for t in r.irpem.calls[1][0] if t.role == "user"] == ["a boat", "a kite"]


# ----- the status message -----


async def test_the_status_shows_the_queue_position_and_is_edited_no_faster_than_the_interval(tiny_settings):
    interval = 0.3
    settings = settings_with_gate(tiny_settings, status_interval_seconds=interval)
    outputs = [gated("alice's fox"), gated("bob's bear", steps=30), paint("carol's cat", steps=5)]
    async with running_bot(settings, outputs) as r:
        with gates("alice's fox", "bob's bear") as gate:
            fake = r.fake
            alice, bob, carol = fake.user("alice"), fake.user("bob"), fake.user("carol")
            start = fake.mark()
            thread_a, mark = await open_thread(fake, alice, "alice's fox")
            status_a = await running_status(fake, thread_a, mark)
            thread_b, mark = await open_thread(fake, bob, "bob's bear")
            status_b = await fake.wait_for("POST", rf"/channels/{thread_b}/messages", since=mark)
            thread_c, mark = await open_thread(fake, carol, "carol's cat")
            status_c = await fake.wait_for("POST", rf"/channels/{thread_c}/messages", since=mark)
            assert status_b.content == "⏳ Queued — position 1"
            assert status_c.content == "⏳ Queued — position 2"
            edits_c = status_path(thread_c, status_c.response["id"])

            gate["bob's bear"].step_seconds = 0.05  # 30 steps in 1.5 s: a steady stream of progress

            # Alice's job ends, Bob's starts (and waits at its gate): Carol moves up.
            gate["alice's fox"].opened.set()
            final_a = await final_reply(fake, thread_a, start)
            await fake.wait_for("PATCH", edits_c, since=mark, where=shows("⏳ Queued — position 1"))
            await fake.wait_for(
                "PATCH", status_path(thread_b, status_b.response["id"]), since=mark, where=shows("step 30/30")
            )
            assert fake.find("PATCH", edits_c, since=mark, where=is_final) == []  # still waiting

            gate["bob's bear"].opened.set()
            final_b = await final_reply(fake, thread_b, mark)
            final_c = await final_reply(fake, thread_c, mark)

        # Each final message replaces its job's status message, with the picture.
        for thread, status, final in [
            (thread_a, status_a, final_a),
            (thread_b, status_b, final_b),
            (thread_c, status_c, final_c),
        ]:
            assert final.path == status_path(thread, status.response["id"])
            assert [name for name, _ in final.files] == ["image-1.png"] and final.custom_ids[0].startswith(
                "dd:vote:up:"
            )
            assert fake.find("PATCH", final.path, since=index_of(fake, final) + 1) == []  # nothing after it

        # Carol's message, in order: position 2 (posted), position 1, ..., the final message.
        shown_c = [status_c.content] + [q.content for q in fake.find("PATCH", edits_c, since=start)]
        assert [t for t in shown_c if t.startswith("⏳")] == ["⏳ Queued — position 2", "⏳ Queued — position 1"]
        assert shown_c[-1].startswith("Painted carol's cat.")

        # Throttled: progress edits of one message are never closer than the interval to each
        # other or to its posting (the final edit does not wait for a slot: not counted).
        slack = 0.03  # between the throttle's clock reading and the request reaching the fake
        for thread, status in [(thread_a, status_a), (thread_b, status_b), (thread_c, status_c)]:
            progress = [
                q
                for q in fake.find("PATCH", status_path(thread, status.response["id"]), since=start)
                if not is_final(q)
            ]
            times = [status.at] + [q.at for q in progress]
            gaps = [b - a for a, b in zip(times, times[1:])]
            assert all(gap >= interval - slack for gap in gaps), (thread, [q.content for q in progress], gaps)

        # Bob's steps came faster than the interval: coalesced into a few edits (several:
        # the throttle, not a lost follower, held them back) that end on the latest step.
        progress_b = [
            q.content
            for q in fake.find("PATCH", status_path(thread_b, status_b.response["id"]), since=start)
            if not is_final(q)
        ]
        assert 3 <= len(progress_b) < 15 and progress_b[-1] == "🎨 Drawing… step 30/30"
        assert all(text.startswith("🎨 Drawing… step ") for text in progress_b[1:])
