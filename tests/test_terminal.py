"""`dialogdraw chat` and `dialogdraw pipelines list`, driven as a person would."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.terminal import chat
from engine.imageio import encode_png
from engine.irpem.scripted import ScriptedIrpem
from engine.registry import Registry
from engine.runtime import Engine
from tests.conftest import SHARED_DATA
from tests.test_e2e import SlowKind

REPO = Path(__file__).resolve().parent.parent


def scripted(settings, *outputs):
    return Engine(settings, Registry.from_settings(settings), irpem=ScriptedIrpem(list(outputs)))


class Pipe(io.StringIO):
    """A non-terminal stdin/stdout, as when turns are piped in."""

    def isatty(self) -> bool:
        return False


@pytest.mark.slow
async def test_piped_turns_print_replies_intents_and_image_paths(tiny_settings):
    engine = scripted(
        tiny_settings,
        {"intent": "text2image", "params": {"prompt": "a fox", "steps": 2}, "response": "A fox."},
        {"intent": "chat", "params": {}, "response": "You're welcome!"},
    )
    out = Pipe()
    assert await chat(tiny_settings, Pipe("a fox\n\nthanks\n"), out, engine=engine) == 0
    text = out.getvalue()
    assert "you> a fox" in text and "bot> A fox." in text and "bot> You're welcome!" in text
    intents = [json.loads(m) for m in re.findall(r"intent: (\{.*\})", text)]
    assert [i["intent"] for i in intents] == ["text2image", "chat"]
    (path,) = re.findall(r"image #1: (\S+)", text)
    assert Image.open(path).mode == "RGB"


@pytest.mark.slow
async def test_image_option_attaches_to_the_first_turn_and_session_continues(tiny_settings, tmp_path):
    photo = tmp_path / "cat.png"
    photo.write_bytes(encode_png(Image.new("RGB", (24, 24), (10, 200, 10))))
    engine = scripted(
        tiny_settings,
        {"intent": "adjust", "params": {"property": "contrast", "amount": 0.3}, "response": "More contrast."},
    )
    out = Pipe()
    await chat(tiny_settings, Pipe("more contrast please\n"), out, image=photo, engine=engine)
    assert "(attached as image #1)" in out.getvalue() and "image #2:" in out.getvalue()
    session = int(re.search(r"session (\d+)", out.getvalue()).group(1))

    engine = scripted(tiny_settings, {"intent": "revert", "params": {"image": "#1"}, "response": "Back to #1."})
    out = Pipe()
    await chat(tiny_settings, Pipe("go back to #1\n"), out, session_id=session, engine=engine)
    assert f"session {session}" in out.getvalue() and "current image: #1" in out.getvalue()
    # the intent model saw the earlier turns of the continued session
    dialogue, current, *_ = engine.irpem.calls[0]
    assert [t.text for t in dialogue][:1] == ["more contrast please"] and current == 2


async def test_unknown_session_is_a_clear_error(tiny_settings, capsys):
    assert await chat(tiny_settings, Pipe(""), Pipe(), session_id=999, engine=scripted(tiny_settings)) == 2
    assert "no session 999" in capsys.readouterr().err


def rgb(color) -> dict:
    """A cheap picture-making answer: ``adjust`` runs no model."""
    return {"intent": "adjust", "params": {"property": "brightness", "amount": color}, "response": f"Adjusted {color}."}


DRAW = {"intent": "text2image", "params": {"prompt": "a red fox in the snow", "steps": 2}, "response": "A fox."}
NIGHT = {"intent": "adjust", "params": {"property": "brightness", "amount": -0.5}, "response": "Night falls."}


async def run_chat(settings, engine, lines: str, **kwargs) -> str:
    out = Pipe()
    assert await chat(settings, Pipe(lines), out, engine=engine, **kwargs) == 0
    return out.getvalue()


def currents(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"current image: #(\d+)", text)]


@pytest.mark.slow
async def test_revert_then_undo_returns_to_the_edit_as_the_training_data_says(tiny_settings):
    """The issue's sequence: draw, edit, /revert 1, /undo ends on #2. DrawnConvos labels the
    same sequence the same way (tests/test_session_rules.py)."""
    engine = scripted(tiny_settings, DRAW, NIGHT)
    text = await run_chat(tiny_settings, engine, "draw a red fox in the snow\nmake it night\n/revert 1\n/undo\n")
    assert currents(text) == [1, 2, 1, 2]
    assert text.rstrip().endswith("current image: #2")
    assert len(engine.irpem.calls) == 2  # the commands did not ask the intent model


@pytest.mark.slow
async def test_every_command_calls_the_same_door_as_the_buttons(tiny_settings):
    from sqlalchemy import select

    from bot.store.db import Database
    from bot.store.models import Feedback, Turn

    engine = scripted(tiny_settings, DRAW)
    script = (
        "\n".join(
            [
                "a red fox in the snow",
                "/reroll",
                "/upscale",
                "/vary",
                "/good",
                "/bad",
                "/undo",
                "/revert 1",
                "/revert x",
                "/choose A",
                "/cancel",
                "/frobnicate",
                "/help",
            ]
        )
        + "\n"
    )
    text = await run_chat(tiny_settings, engine, script)
    replies = re.findall(r"^bot> (.*)$", text, flags=re.M)
    assert replies[:4] == ["A fox.", "A fox.", "Upscaled #2.", "A variation of #3."]
    assert "image #2:" in text and "image #3:" in text and "image #4:" in text
    assert replies[4:] == [
        "Thanks — noted 👍",
        "Thanks — noted 👎. Tell me what to change.",
        "Undone.",
        "Back to that image.",
        "Say which image: /revert N (for example /revert 1).",
        "There is no choice to make.",
        "Nothing is running.",
        "There is no command /frobnicate; /help lists them.",
    ]
    assert "/choose A|B" in text  # the help
    assert currents(text)[:7] == [1, 2, 3, 4, 3, 1, 1]
    intents = [json.loads(m)["intent"] for m in re.findall(r"intent: (\{.*\})", text)]
    assert intents == ["text2image", "text2image", "upscale", "variation", "undo", "revert"]
    assert len(engine.irpem.calls) == 1  # only the free text asked the intent model

    db = Database(tiny_settings.db_url)
    try:
        async with db.session() as s:
            votes = [(f.kind, f.turn_id) for f in (await s.execute(select(Feedback))).scalars()]
            turns = list((await s.execute(select(Turn).order_by(Turn.id))).scalars())
    finally:
        await db.dispose()
    assert [k for k, _ in votes] == ["down"]  # /bad replaced /good: one vote per user and answer
    assert votes[0][1] == [t.id for t in turns if t.role == "assistant"][3]  # on the latest answer
    assert [t.text for t in turns if t.role == "user"] == [
        "a red fox in the snow",
        "🔁 reroll #1",
        "⬆️ upscale #2",
        "🔀 vary #3",
        "↩️ undo",
        "back to #1",
    ]


@pytest.mark.slow
async def test_choose_picks_one_of_two_takes(tiny_settings):
    engine = scripted(tiny_settings, DRAW, DRAW, rgb(0.3), rgb(-0.3))  # two identical takes are one
    text = await run_chat(
        tiny_settings, engine, "a red fox in the snow\nbrighter or darker?\n/choose B\n/undo\n", ab=1.0
    )
    assert "Two takes — /choose A or /choose B:" in text
    assert "A: Adjusted 0.3." in text and "B: Adjusted -0.3." in text
    assert "B it is: Adjusted -0.3." in text
    assert currents(text) == [1, 2, 3, 1]  # A (#2) stands until B (#3) is chosen; undo goes behind both


class TypedLater(Pipe):
    """stdin whose "/cancel" line is typed only once the drawing has started."""

    def readline(self, *args) -> str:
        line = super().readline(*args)
        if line.startswith("/cancel"):
            assert SlowKind.started.wait(30)
        return line


@pytest.mark.slow
async def test_cancel_stops_the_running_request(tiny_settings):
    from engine.config import PipelineInstance

    settings = tiny_settings.model_copy(
        update={"pipelines": [*tiny_settings.pipelines, PipelineInstance(id="slow", kind="test_slow")]}
    )
    engine = scripted(
        settings,
        {"intent": "slow", "params": {"steps": 1000}, "response": ""},
        {"intent": "chat", "params": {}, "response": "Still here."},
    )
    SlowKind.started.clear()
    out = Pipe()
    await asyncio.wait_for(chat(settings, TypedLater("take your time\n/cancel\nhello?\n"), out, engine=engine), 60)
    replies = re.findall(r"^bot> (.*)$", out.getvalue(), flags=re.M)
    assert replies == ["Cancelled.", "Still here."]


def test_pipelines_list_json_prints_the_enabled_catalog(capsys):
    assert main(["pipelines", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows][:2] == ["text2image", "img2img"]
    assert all({"id", "kind", "type", "description", "inputs"} <= set(r) for r in rows)
    assert rows[0]["inputs"]["required"] == ["prompt"]


def test_bad_config_exits_2_naming_the_key(monkeypatch, capsys):
    monkeypatch.setenv("DIALOGDRAW_QUEUE__MAX_ATTEMPTS", "lots")
    assert main(["pipelines", "list"]) == 2
    assert "queue.max_attempts" in capsys.readouterr().err


@pytest.mark.slow
def test_readme_run_command_with_the_real_intent_model(tmp_path):
    """The README's main job: `dialogdraw chat --profile tiny < examples/fox.txt`, with the
    real SmolLM2 and the shipped adapter choosing the intents: every turn gets a reply, and
    each the intent a person means (draw, edit, ask, undo)."""
    env = {
        **os.environ,
        "DIALOGDRAW_DATA_DIR": str(SHARED_DATA),
        "DIALOGDRAW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--profile", "tiny"],
        stdin=open(REPO / "examples" / "fox.txt"),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("you> ") == 4
    assert proc.stdout.count("bot> ") == 4
    assert "Traceback" not in proc.stderr
    intents = [
        json.loads(line.split("intent: ", 1)[1])["intent"]
        for line in proc.stdout.splitlines()
        if line.strip().startswith("intent: ")
    ]
    assert intents == ["text2image", "instruct_edit", "vqa", "undo"], proc.stdout
