"""`dialogdraw eval irpem`: predict, score, and write a report people can read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from engine.config import DEFAULT_CONFIG, load_settings
from engine.irpem.scripted import ScriptedIrpem
from engine.registry import Registry
from eval.run import load_cases, run_irpem_eval

DATA = Path(__file__).parent / "fixtures" / "dialogues_small.jsonl"


def test_scripted_run_scores_and_writes_every_report_file(tmp_path):
    settings = load_settings(DEFAULT_CONFIG)
    registry = Registry.from_settings(settings)
    answers = ScriptedIrpem(
        [
            {
                "intent": "text2image",
                "params": {"prompt": "a red barn at sunset", "negative_prompt": "people"},
                "response": "Barn.",
            },
            {"intent": "img2img", "params": {"prompt": "winter"}, "response": "Winter."},  # wrong intent
            {"intent": "vqa", "params": {"question": "what is in this photo?"}, "response": "Looking."},
            {"intent": "chat", "params": {}, "response": "Hello!"},
        ]
    )
    report = run_irpem_eval(settings, registry, DATA, tmp_path, irpem=answers)
    assert report["n"] == 4 and report["isa"] == 0.75
    assert report["parameter_accuracy"] == 1.0  # right-intent turns have every key term and the negative
    assert report["structural_conformity"] == 1.0
    assert report["per_intent"]["instruct_edit"] == {"correct": 0, "total": 1, "accuracy": 0.0}
    assert report["confusion"]["instruct_edit"] == {"img2img": 1}
    # the IRPEM saw each turn's context: the edit turn came with the barn picture current
    dialogue, current, *_ = answers.calls[1]
    assert [t.text for t in dialogue] == ["a red barn at sunset, no people", "A red barn.", "make it winter"]
    assert current == 1
    for name in ("report.json", "report.md", "per_intent_accuracy.png", "confusion_matrix.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text())["isa"] == 0.75
    md = (tmp_path / "report.md").read_text()
    assert "| IRPEM | 0.750 | 1.000 | 1.000 |" in md and "SFT+DPO (paper)" in md
    # the one misread turn is listed with the request it answered
    assert "## Most common mistakes (1 of 4 turns wrong)" in md
    assert "| instruct_edit | img2img | 1 | make it winter |" in md
    # and under each phrasing that wrote it; a right turn's phrasing is not listed
    assert "| instruct_edit.ask.3 | 1 | 1 | make it winter -> img2img |" in md
    assert "| instruct_edit.free.1 | 1 | 1 |" in md and "text2image.ask.0" not in md
    assert report["records"][1]["phrasings"] == ["instruct_edit.ask.3", "instruct_edit.free.1"]
    assert Image.open(tmp_path / "confusion_matrix.png").size[0] > 100


def test_limit_draws_a_reproducible_subset():
    first = load_cases(DATA, limit=2, seed=3)
    assert len(first) == 2
    assert [(c.dialogue_id, c.turn_index) for c in first] == [
        (c.dialogue_id, c.turn_index) for c in load_cases(DATA, limit=2, seed=3)
    ]


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "irpem", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "no such dialogue file" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_with_the_real_intent_model(tmp_path, capsys, monkeypatch):
    from tests.conftest import SHARED_DATA

    monkeypatch.setenv("DIALOGDRAW_DATA_DIR", str(SHARED_DATA))
    assert main(["eval", "irpem", "--data", str(DATA), "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.split("report:")[0])
    assert summary["n"] == 4
    assert summary["structural_conformity"] >= 0.6  # every answer is valid by construction
    assert (tmp_path / "report.md").exists()


def test_merged_parts_report_what_one_run_over_the_whole_file_does(tmp_path, capsys):
    """Lanes: one run per share of the dialogues, merged, is the run over all of them."""
    settings = load_settings(DEFAULT_CONFIG)
    registry = Registry.from_settings(settings)
    answers = [
        {"intent": "text2image", "params": {"prompt": "a red barn"}, "response": "Barn."},  # negative missed
        {"intent": "img2img", "params": {"prompt": "winter"}, "response": "Winter."},  # wrong intent
        {"intent": "vqa", "params": {"question": "what is in this photo?"}, "response": "Looking."},
        {"intent": "chat", "params": {}, "response": "Hello!"},
    ]
    lines = DATA.read_text().splitlines(keepends=True)
    (tmp_path / "part1.jsonl").write_text(lines[0])
    (tmp_path / "part2.jsonl").write_text("".join(lines[1:]))
    whole = run_irpem_eval(settings, registry, DATA, tmp_path / "whole", irpem=ScriptedIrpem(answers))
    run_irpem_eval(settings, registry, tmp_path / "part1.jsonl", tmp_path / "p1", irpem=ScriptedIrpem(answers[:2]))
    run_irpem_eval(settings, registry, tmp_path / "part2.jsonl", tmp_path / "p2", irpem=ScriptedIrpem(answers[2:]))

    assert main(["eval", "merge", str(tmp_path / "p1"), str(tmp_path / "p2"), "--out", str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert 0 < whole["parameter_accuracy"] < 1  # the parts differ, so the weights matter
    for key in ("n", "param_n", "per_intent", "confusion", "records"):
        assert merged[key] == whole[key], key
    for key in ("isa", "parameter_accuracy", "parameter_accuracy_all", "negatives", "structural_conformity"):
        assert merged[key] == pytest.approx(whole[key]), key
    assert "| instruct_edit | img2img | 1 | make it winter |" in (tmp_path / "merged" / "report.md").read_text()

    # the same part twice is not a larger run
    assert main(["eval", "merge", str(tmp_path / "p1"), str(tmp_path / "p1"), "--out", str(tmp_path / "m2")]) == 2
    assert "scored some turns twice" in capsys.readouterr().err
