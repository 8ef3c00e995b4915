"""`dialogdraw chat` and `dialogdraw pipelines list`, driven as a person would."""

from __future__ import annotations

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
    engine = scripted(tiny_settings, {"intent": "adjust", "params": {"property": "contrast", "amount": 0.3},
                                      "response": "More contrast."})
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
    env = {**os.environ, "DIALOGDRAW_DATA_DIR": str(SHARED_DATA),
           "DIALOGDRAW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--profile", "tiny"],
        stdin=open(REPO / "examples" / "fox.txt"), capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("you> ") == 4
    assert proc.stdout.count("bot> ") == 4
    assert "Traceback" not in proc.stderr
    intents = [json.loads(line.split("intent: ", 1)[1])["intent"]
               for line in proc.stdout.splitlines() if line.strip().startswith("intent: ")]
    assert intents == ["text2image", "instruct_edit", "vqa", "undo"], proc.stdout
