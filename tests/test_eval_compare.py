"""`dialogdraw eval compare`: runs side by side, differences, paired counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from eval.compare import CompareError, compare, load_runs, sign_test, write_comparison


def _intent_run(
    folder: Path,
    verdicts: dict[tuple[str, int], tuple[str, str]],
    params: dict[tuple[str, int], float] | None = None,
    **metrics,
) -> Path:
    """An intent report.json whose records give (gold, predicted) per (dialogue, turn), and
    the parameter score (1.0 unless ``params`` says otherwise)."""
    folder.mkdir(parents=True)
    records = [
        {
            "dialogue_id": d,
            "turn_index": t,
            "gold_intent": g,
            "pred_intent": p,
            "param_total": (params or {}).get((d, t), 1.0),
            "struct_total": 1.0,
        }
        for (d, t), (g, p) in verdicts.items()
    ]
    per_intent: dict[str, dict] = {}
    for r in records:
        row = per_intent.setdefault(r["gold_intent"], {"correct": 0, "total": 0})
        row["total"] += 1
        row["correct"] += r["gold_intent"] == r["pred_intent"]
    for row in per_intent.values():
        row["accuracy"] = row["correct"] / row["total"]
    isa = sum(r["gold_intent"] == r["pred_intent"] for r in records) / len(records)
    report = {
        "n": len(records),
        "isa": isa,
        "parameter_accuracy": 0.5,
        "structural_conformity": 1.0,
        "per_intent": per_intent,
        "records": records,
        "data": "test.jsonl",
        **metrics,
    }
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def test_sign_test_matches_hand_computed_values():
    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 0) == pytest.approx(0.25)  # 2 * (1/8)
    assert sign_test(1, 4) == pytest.approx(2 * 6 / 32)  # 2 * P(X <= 1), n = 5
    assert sign_test(10, 0) == pytest.approx(2 / 1024)


def test_intent_comparison_counts_fixed_and_broken_turns(tmp_path):
    keys = [("d1", 1), ("d1", 3), ("d2", 1), ("d3", 1)]
    base = _intent_run(
        tmp_path / "sft",
        dict(zip(keys, [("text2image", "text2image"), ("img2img", "chat"), ("vqa", "chat"), ("undo", "undo")])),
    )
    dpo = _intent_run(
        tmp_path / "sft+dpo",
        dict(zip(keys, [("text2image", "text2image"), ("img2img", "img2img"), ("vqa", "vqa"), ("undo", "revert")])),
        parameter_accuracy=0.75,
    )
    runs = load_runs([base, dpo])
    result = compare(runs)
    sft_row, dpo_row = result["runs"]
    assert result["baseline"] == "sft" and "paired" not in sft_row
    assert dpo_row["isa"] == 0.75 and dpo_row["delta_isa"] == pytest.approx(0.25)
    assert dpo_row["delta_parameter_accuracy"] == pytest.approx(0.25)
    assert dpo_row["paired"] == {"shared": 4, "better": 2, "worse": 1, "p_value": pytest.approx(1.0)}
    assert result["per_intent"]["img2img"] == {"sft": 0.0, "sft+dpo": 1.0}
    assert result["per_intent"]["undo"] == {"sft": 1.0, "sft+dpo": 0.0}
    assert dpo_row["moves"] == {
        "broken": [{"gold": "undo", "was": "undo", "now": "revert", "turns": 1}],
        "fixed": [
            {"gold": "img2img", "was": "chat", "now": "img2img", "turns": 1},
            {"gold": "vqa", "was": "chat", "now": "vqa", "turns": 1},
        ],
    }
    assert "warning" not in result

    files = write_comparison(result, runs, tmp_path / "cmp")
    assert all(f.stat().st_size > 0 for f in files)
    md = (tmp_path / "cmp" / "report.md").read_text()
    assert "| sft+dpo | 4 | 0.750 (+0.250) | 0.750 (+0.250) | 1.000 (+0.000) |" in md
    assert "| sft+dpo | 4 | 2 | 1 | 1 |" in md
    assert "| img2img | 0.000 | 1.000 |" in md
    assert "| sft+dpo | broken | undo | undo | revert | 1 |" in md


def test_moves_group_a_whole_intent_that_moved(tmp_path):
    """Three clarify turns that all became chat are one line; a turn wrong in both runs
    (even if its wrong answer changed) is not a move."""
    verdicts = {
        ("d1", 1): ("clarify", "clarify"),
        ("d2", 1): ("clarify", "clarify"),
        ("d3", 1): ("clarify", "clarify"),
        ("d4", 1): ("remove_object", "remove_object"),
        ("d5", 1): ("pan", "adjust"),
    }
    after = {
        **{k: ("clarify", "chat") for k in list(verdicts)[:3]},
        ("d4", 1): ("remove_object", "remove_background"),
        ("d5", 1): ("pan", "outpaint"),
    }
    result = compare(load_runs([_intent_run(tmp_path / "a", verdicts), _intent_run(tmp_path / "b", after)]))
    assert result["runs"][1]["moves"] == {
        "broken": [
            {"gold": "clarify", "was": "clarify", "now": "chat", "turns": 3},
            {"gold": "remove_object", "was": "remove_object", "now": "remove_background", "turns": 1},
        ],
        "fixed": [],
    }


def test_parameters_are_paired_only_where_both_runs_chose_the_gold_intent(tmp_path):
    keys = [("d1", 1), ("d2", 1), ("d3", 1), ("d4", 1), ("d5", 1)]
    gold = ["img2img", "img2img", "pan", "pan", "vqa"]
    base = _intent_run(
        tmp_path / "sft",
        dict(zip(keys, [(g, g) for g in gold[:4]] + [("vqa", "chat")])),
        params={("d1", 1): 0.5, ("d2", 1): 0.5, ("d3", 1): 1.0, ("d4", 1): 0.8, ("d5", 1): 0.0},
    )
    # d4: the intent is now wrong, so its parameters do not count; d5: only this run is right
    dpo = _intent_run(
        tmp_path / "dpo",
        dict(zip(keys, [(g, g) for g in gold[:3]] + [("pan", "outpaint"), ("vqa", "vqa")])),
        params={("d1", 1): 1.0, ("d2", 1): 0.5, ("d3", 1): 0.7, ("d4", 1): 1.0, ("d5", 1): 1.0},
    )
    result = compare(load_runs([base, dpo]))
    assert result["runs"][1]["paired_parameters"] == {"shared": 3, "better": 1, "worse": 1, "p_value": 1.0}
    files = write_comparison(result, load_runs([base, dpo]), tmp_path / "cmp")
    assert "| dpo | 3 | 1 | 1 | 1 |" in files[1].read_text()


def test_system_comparison_and_per_round_plot(tmp_path):
    def run(name, iecs):
        folder = tmp_path / name
        folder.mkdir()
        per_dialogue = [{"id": f"d{i}", "iec": v, "rounds": [{"iec": v, "vqa": v}]} for i, v in enumerate(iecs)]
        mean = sum(iecs) / len(iecs)
        (folder / "report.json").write_text(
            json.dumps(
                {
                    "dialogues": len(iecs),
                    "m_vqa": mean,
                    "m_clip": 0.5,
                    "iec": mean,
                    "data": "d.jsonl",
                    "per_dialogue": per_dialogue,
                }
            )
        )
        return folder

    runs = load_runs([run("a", [0.2, 0.5, 0.5]), run("b", [0.4, 0.5, 0.1])], ["SFT", "SFT+DPO"])
    result = compare(runs)
    assert result["kind"] == "system"
    assert result["runs"][1]["paired"] == {"shared": 3, "better": 1, "worse": 1, "p_value": 1.0}
    files = write_comparison(result, runs, tmp_path / "out")
    assert files[2].name == "per_round_comparison.png" and files[2].stat().st_size > 1000


def test_different_data_files_are_flagged(tmp_path):
    a = _intent_run(tmp_path / "a", {("d1", 1): ("chat", "chat")})
    b = _intent_run(tmp_path / "b", {("d1", 1): ("chat", "chat")}, data="other.jsonl")
    assert "different data files" in compare(load_runs([a, b]))["warning"]


def test_bad_input_gets_clear_errors(tmp_path, capsys):
    a = _intent_run(tmp_path / "a", {("d1", 1): ("chat", "chat")})
    with pytest.raises(CompareError, match="at least two"):
        load_runs([a])
    with pytest.raises(CompareError, match="no report.json"):
        load_runs([a, tmp_path / "missing"])
    sysrun = tmp_path / "s"
    sysrun.mkdir()
    (sysrun / "report.json").write_text(json.dumps({"iec": 0.5, "m_vqa": 0.5, "m_clip": 0.5}))
    with pytest.raises(CompareError, match="intent runs with system runs"):
        load_runs([a, sysrun])
    assert main(["eval", "compare", str(a), str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no report.json" in capsys.readouterr().err


def test_cli_writes_the_report(tmp_path, capsys):
    a = _intent_run(tmp_path / "zero-shot", {("d1", 1): ("chat", "vqa"), ("d2", 1): ("vqa", "chat")})
    b = _intent_run(tmp_path / "sft", {("d1", 1): ("chat", "chat"), ("d2", 1): ("vqa", "vqa")})
    assert main(["eval", "compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "| sft | 2 | 1.000 (+1.000)" in out
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"report.json", "report.md", "per_intent_comparison.png"}
