"""`dialogdraw eval system`: dialogues through the whole system, scored by image metrics."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from engine.irpem.scripted import ScriptedIrpem
from engine.registry import Registry
from engine.runtime import Engine
from eval.system import run_system_eval
from tests.conftest import SHARED_DATA


def write_dialogues(path):
    dialogues = [
        {
            "id": "fox",
            "turns": [
                {"role": "user", "text": "a fox in a snowy forest", "images": []},
                {"role": "assistant", "gold": {"intent": "text2image", "params": {"prompt": "a fox"}, "response": ""}},
                {"role": "user", "text": "make it night", "images": []},
                {
                    "role": "assistant",
                    "gold": {"intent": "instruct_edit", "params": {"instruction": "night"}, "response": ""},
                },
            ],
        },
        {
            "id": "photo",
            "turns": [
                {"role": "user", "text": "what is in this photo?", "images": [1]},
                {"role": "assistant", "gold": {"intent": "vqa", "params": {"question": "what?"}, "response": ""}},
                {"role": "user", "text": "brighter please", "images": []},
                {
                    "role": "assistant",
                    "gold": {"intent": "adjust", "params": {"property": "brightness", "amount": 0.4}, "response": ""},
                },
            ],
        },
    ]
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    return path


@pytest.mark.slow
async def test_two_dialogues_through_the_system_write_every_report_file(tiny_settings, tmp_path):
    data = write_dialogues(tmp_path / "d.jsonl")
    irpem = ScriptedIrpem(
        [
            {"intent": "text2image", "params": {"prompt": "a fox in a snowy forest", "steps": 2}, "response": ""},
            {"intent": "instruct_edit", "params": {"instruction": "make it night", "steps": 2}, "response": ""},
            {"intent": "vqa", "params": {"question": "what is in this photo?"}, "response": ""},
            {"intent": "adjust", "params": {"property": "brightness", "amount": 0.4}, "response": ""},
        ]
    )
    engine = Engine(tiny_settings, Registry.from_settings(tiny_settings), irpem=irpem)
    out = tmp_path / "report"
    report = await run_system_eval(tiny_settings, data, out, engine=engine)

    assert report["dialogues"] == 2 and report["failed_turns"] == 0
    fox, photo = report["per_dialogue"]
    assert [r["type"] for r in fox["rounds"]] == ["generate", "edit"]
    assert [r["type"] for r in photo["rounds"]] == ["describe", "edit"]
    assert fox["rounds"][0]["clip"] is None and -1 <= fox["rounds"][1]["clip"] <= 1  # edit vs its source
    assert photo["rounds"][0]["iec"] is None  # describe rounds are excluded from IEC
    for d in (fox, photo):
        assert 0 <= d["m_vqa"] <= 1 and d["iec"] is not None
    assert fox["m_clip"] is not None  # two output images
    assert photo["m_clip"] is None  # one output image: no pair (uploads do not count)
    assert 0 <= report["m_vqa"] <= 1
    for name in ("report.json", "report.md", "per_round_scores.png"):
        assert (out / name).stat().st_size > 0
    assert "DialogDraw (paper) | 0.8491" in (out / "report.md").read_text()


@pytest.mark.slow
def test_cli_runs_with_the_real_intent_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DIALOGDRAW_DATA_DIR", str(SHARED_DATA))
    data = write_dialogues(tmp_path / "d.jsonl")
    out = tmp_path / "out"
    assert main(["eval", "system", "--data", str(data), "--out", str(out), "--profile", "tiny", "--limit", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.split("report:")[0])
    assert summary["dialogues"] == 1
    assert (out / "report.md").exists() and (out / "eval.db").exists()
