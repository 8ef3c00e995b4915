"""Running the real Discord bot against ``FakeDiscord``: the embedded app (real SQLite,
DB queue, worker) with a scripted IRPEM, and a cheap ``paint`` pipeline for tests that need
an image but not a diffusion model."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import select

from bot.app import App, embedded
from bot.discordbot.client import DialogDrawBot
from engine.config import PipelineInstance
from engine.irpem.scripted import ScriptedIrpem
from engine.pipelines.common import Steps
from engine.registry import KINDS, ImageRef, Inputs, PipelineKind, PipelineOutput, Prompt, Registry, register_kind
from engine.runtime import Engine
from tests.discord_recorder import FakeDiscord


class PaintInputs(Inputs):
    prompt: Prompt
    image: ImageRef | None = None  # optional: a painting may start from a picture
    steps: Steps = 3


class Paint(PipelineKind):
    """A solid picture whose colour depends on the prompt and seed; reports its steps."""

    kind = "paint"
    type = "generate"
    description = "Paint a flat picture (tests)."
    Inputs = PaintInputs
    image_fields = ("image",)
    needs_image = False

    def __call__(self, inputs, ctx) -> PipelineOutput:
        for step in range(inputs.steps):
            ctx.progress(step + 1, inputs.steps)
        shade = (hash(inputs.prompt) + ctx.seed) % 200
        return PipelineOutput(images=[Image.new("RGB", (48, 32), (shade, 80, 160))])


if "paint" not in KINDS:
    register_kind(Paint)


def with_paint(settings, **bot_changes):
    """The settings plus a ``paint`` pipeline, fast status edits, and ``bot_changes``."""
    pipelines = [*settings.pipelines, PipelineInstance(id="paint", kind="paint")]
    return settings.model_copy(
        update={
            "pipelines": pipelines,
            "bot": settings.bot.model_copy(update={"status_interval_seconds": 0.05, **bot_changes}),
            "queue": settings.queue.model_copy(update={"poll_seconds": 0.2}),
        }
    )


def paint(prompt: str, response: str = "", **params) -> dict:
    return {"intent": "paint", "params": {"prompt": prompt, **params}, "response": response or f"Painted {prompt}."}


@dataclass
class Running:
    fake: FakeDiscord
    bot: DialogDrawBot
    app: App
    irpem: ScriptedIrpem

    async def rows(self, model, **where):
        async with self.app.conversation.db.sessionmaker() as s:
            q = select(model).filter_by(**where).order_by(*model.__table__.primary_key.columns)
            return list((await s.execute(q)).scalars())


@contextlib.asynccontextmanager
async def running_bot(settings, outputs=(), *, fake: FakeDiscord | None = None) -> AsyncIterator[Running]:
    """The bot, logged in and READY on ``fake`` (a new one by default; pass the old one to
    restart on the same "Discord")."""
    irpem = ScriptedIrpem([o if isinstance(o, str) else json.dumps(o) for o in outputs])
    engine = Engine(settings, Registry.from_settings(settings), irpem=irpem)
    async with embedded(settings, engine=engine) as app:
        bot = DialogDrawBot(app, guild_ready_timeout=0.01)
        fake = fake or FakeDiscord()
        try:
            await fake.connect(bot)
            yield Running(fake, bot, app, irpem)
        finally:
            await bot.close()


def is_final(req) -> bool:
    """The last edit of a status message: it sets the components (progress edits do not)."""
    return isinstance(req.json, dict) and "components" in req.json


async def final_reply(fake: FakeDiscord, channel_id: int, since: int, count: int = 1, timeout: float = 60):
    return await fake.wait_for(
        "PATCH", rf"/channels/{channel_id}/messages/\d+", since=since, where=is_final, count=count, timeout=timeout
    )


async def open_thread(fake: FakeDiscord, user: dict, prompt: str, **slash_kwargs) -> tuple[int, int]:
    """`/draw prompt` -> (thread id, mark before the command)."""
    mark = fake.mark()
    fake.slash("draw", [{"name": "prompt", "type": 3, "value": prompt}], user=user, **slash_kwargs)
    created = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages/\d+/threads", since=mark)
    return int(created.response["id"]), mark


def turn_of(req) -> int:
    """The turn id carried by a final message's buttons."""
    return int(req.custom_ids[0].rsplit(":", 1)[1])
