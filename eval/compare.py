"""Comparing benchmark runs side by side (the paper's ablation, Table 3: zero-shot / SFT /
DPO / SFT+DPO): ``dialogdraw eval compare RUN_DIR RUN_DIR [...] --out DIR``.

Each RUN_DIR holds the report.json of one ``eval irpem`` or ``eval system`` run; all runs
must be of one kind. The first run is the baseline: every other run gets its difference
to it. Headline numbers can move by chance on a small test set, so intent runs also get a
paired count on the turns both runs scored — turns the new run fixed versus broke — with
the exact two-sided McNemar (sign) test's p-value; system runs get the same count over
dialogues whose IEC went up or down. Intent runs also get the same count for parameters,
on the turns where both runs chose the gold intent: a change that only sharpens the
parameters (what DPO mostly does here) shows there even when intent accuracy is flat.
Last, intent runs list where the changed turns went (gold intent, the baseline's answer, the
run's answer): a run that moves a whole intent to a neighbour, as DPO on a few pairs does,
shows up there as one line with a large count.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from eval.report import per_round_means, plt  # plt: matplotlib already set to files-only there

INTENT_METRICS = (
    ("isa", "Intent Switch Acc."),
    ("parameter_accuracy", "Parameter Acc."),
    ("structural_conformity", "Structural Conformity"),
)
SYSTEM_METRICS = (("m_vqa", "M-VQA"), ("m_clip", "M-CLIP"), ("iec", "IEC"))


class CompareError(ValueError):
    """Runs that cannot be compared (missing report, mixed kinds)."""


@dataclass
class Run:
    name: str
    report: dict[str, Any]

    @property
    def kind(self) -> str:
        if "isa" in self.report:
            return "intent"
        if "iec" in self.report:
            return "system"
        raise CompareError(f"run {self.name!r}: report.json is neither an intent nor a system report")


@dataclass
class Paired:
    """How a run changed the baseline's outcome on the items both scored."""

    shared: int
    better: int  # baseline wrong (or lower), this run right (or higher)
    worse: int
    p_value: float  # exact two-sided McNemar / sign test on better vs worse

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def load_runs(dirs: list[Path], names: list[str] | None = None) -> list[Run]:
    if len(dirs) < 2:
        raise CompareError("give at least two run folders to compare")
    if names and len(names) != len(dirs):
        raise CompareError(f"{len(names)} names for {len(dirs)} runs")
    runs = []
    for i, d in enumerate(dirs):
        path = d / "report.json" if d.is_dir() else d
        if not path.is_file():
            raise CompareError(f"no report.json in {d} (run 'dialogdraw eval irpem|system --out {d}' first)")
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CompareError(f"{path}: not valid JSON ({err.msg})") from None
        runs.append(Run(names[i] if names else (d.name if d.is_dir() else d.parent.name), report))
    kinds = {r.kind for r in runs}
    if len(kinds) > 1:
        raise CompareError(
            "cannot compare intent runs with system runs: " + ", ".join(f"{r.name} ({r.kind})" for r in runs)
        )
    return runs


def sign_test(better: int, worse: int) -> float:
    """Exact two-sided p-value of ``better`` vs ``worse`` under "no difference" (p = 1/2)."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(better, worse) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _by_turn(report: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """An intent report's records by (dialogue, turn): how two runs' turns are matched."""
    return {(r["dialogue_id"], r["turn_index"]): r for r in report.get("records", [])}


def _right(record: dict[str, Any]) -> bool:
    return record["gold_intent"] == record["pred_intent"]


def paired_intent(base: dict[str, Any], other: dict[str, Any]) -> Paired:
    """Per-turn intent correctness of two runs, matched by (dialogue, turn)."""
    a, b = _by_turn(base), _by_turn(other)
    shared = a.keys() & b.keys()
    better = sum(1 for k in shared if _right(b[k]) and not _right(a[k]))
    worse = sum(1 for k in shared if _right(a[k]) and not _right(b[k]))
    return Paired(len(shared), better, worse, sign_test(better, worse))


def intent_moves(base: dict[str, Any], other: dict[str, Any], top: int = 8) -> dict[str, list[dict]]:
    """The most common (gold, baseline answer -> this run's answer) among the turns this run
    broke and among those it fixed, matched by (dialogue, turn)."""
    a, b = _by_turn(base), _by_turn(other)
    moves: dict[str, Counter] = {"broken": Counter(), "fixed": Counter()}
    for k in a.keys() & b.keys():
        if _right(a[k]) != _right(b[k]):
            move = (a[k]["gold_intent"], a[k]["pred_intent"], b[k]["pred_intent"])
            moves["broken" if _right(a[k]) else "fixed"][move] += 1
    return {
        kind: [
            {"gold": g, "was": w, "now": n, "turns": c}
            for (g, w, n), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ]
        for kind, counts in moves.items()
    }


def paired_parameters(base: dict[str, Any], other: dict[str, Any]) -> Paired:
    """Per-turn parameter score of two runs on the turns where both chose the gold intent
    (elsewhere parameters are not comparable); equal scores are left out."""

    def scored(report: dict[str, Any]) -> dict[tuple[str, int], float]:
        return {
            k: r["param_total"] for k, r in _by_turn(report).items() if _right(r) and r.get("param_total") is not None
        }

    a, b = scored(base), scored(other)
    shared = a.keys() & b.keys()
    better = sum(1 for k in shared if b[k] > a[k] + 1e-9)
    worse = sum(1 for k in shared if b[k] < a[k] - 1e-9)
    return Paired(len(shared), better, worse, sign_test(better, worse))


def paired_system(base: dict[str, Any], other: dict[str, Any]) -> Paired:
    """Per-dialogue IEC of two runs, matched by dialogue id; ties and unscored are left out."""

    def iec(report: dict[str, Any]) -> dict[str, float]:
        return {d["id"]: d["iec"] for d in report.get("per_dialogue", []) if d.get("iec") is not None}

    a, b = iec(base), iec(other)
    shared = a.keys() & b.keys()
    better = sum(1 for k in shared if b[k] > a[k])
    worse = sum(1 for k in shared if b[k] < a[k])
    return Paired(len(shared), better, worse, sign_test(better, worse))


def compare(runs: list[Run]) -> dict[str, Any]:
    """The comparison as data: metrics per run, differences and paired counts vs the first."""
    kind = runs[0].kind
    metrics = INTENT_METRICS if kind == "intent" else SYSTEM_METRICS
    pair = paired_intent if kind == "intent" else paired_system
    base = runs[0]
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "name": run.name,
            "data": run.report.get("data"),
            "n": run.report.get("n", run.report.get("dialogues")),
        }
        for key, _ in metrics:
            row[key] = run.report.get(key)
            b = base.report.get(key)
            row[f"delta_{key}"] = None if row[key] is None or b is None else row[key] - b
        if run is not base:
            row["paired"] = pair(base.report, run.report).as_dict()
            if kind == "intent":
                row["paired_parameters"] = paired_parameters(base.report, run.report).as_dict()
                row["moves"] = intent_moves(base.report, run.report)
        rows.append(row)
    result: dict[str, Any] = {"kind": kind, "baseline": base.name, "runs": rows}
    if len({r["data"] for r in rows}) > 1:
        result["warning"] = "the runs scored different data files; differences mix data and model"
    if kind == "intent":
        intents = sorted({i for r in runs for i in r.report.get("per_intent", {})})
        result["per_intent"] = {
            i: {r.name: r.report.get("per_intent", {}).get(i, {}).get("accuracy") for r in runs} for i in intents
        }
    return result


def write_comparison(result: dict[str, Any], runs: list[Run], out: Path) -> list[Path]:
    """report.json, report.md and a plot of the comparison in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md"]
    files[0].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if result["kind"] == "intent":
        files.append(_per_intent_bars(result, out / "per_intent_comparison.png"))
    else:
        files.append(_per_round_curves(runs, out / "per_round_comparison.png"))
    files[1].write_text(_markdown(result, files[2].name))
    return files


def _markdown(result: dict[str, Any], plot: str) -> str:
    metrics = INTENT_METRICS if result["kind"] == "intent" else SYSTEM_METRICS
    what = "intent metrics" if result["kind"] == "intent" else "image metrics"
    lines = [f"# Comparison of {len(result['runs'])} runs: {what}", ""]
    if "warning" in result:
        lines += [f"**Warning:** {result['warning']}.", ""]
    lines += ["| run | n | " + " | ".join(label for _, label in metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for row in result["runs"]:
        cells = []
        for key, _ in metrics:
            v, d = row[key], row[f"delta_{key}"]
            cell = "n/a" if v is None else f"{v:.3f}"
            if row["name"] != result["baseline"] and d is not None:
                cell += f" ({d:+.3f})"
            cells.append(cell)
        lines.append(f"| {row['name']} | {row['n']} | " + " | ".join(cells) + " |")
    unit = "turns (intent right or wrong)" if result["kind"] == "intent" else "dialogues (IEC up or down)"
    lines += [
        "",
        f"Differences are to the baseline, **{result['baseline']}**.",
        "",
        f"## Paired against {result['baseline']}",
        "",
        f"Counted on the {unit} that both runs scored; p is the exact two-sided sign "
        "(McNemar) test: below 0.05, the change is unlikely to be chance.",
        "",
        "| run | shared | better | worse | p |",
        "|---|---|---|---|---|",
    ]
    lines += _paired_rows(result, "paired")
    if result["kind"] == "intent":
        lines += [
            "",
            "Parameters, on the turns where both runs chose the gold intent (better: a higher parameter score):",
            "",
            "| run | shared | better | worse | p |",
            "|---|---|---|---|---|",
        ]
        lines += _paired_rows(result, "paired_parameters")
        names = [r["name"] for r in result["runs"]]
        lines += [
            "",
            "## Per intent (accuracy)",
            "",
            "| gold intent | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for intent, accs in result["per_intent"].items():
            lines.append(
                f"| {intent} | " + " | ".join("—" if accs[n] is None else f"{accs[n]:.3f}" for n in names) + " |"
            )
        lines += _moves_rows(result)
    lines += ["", f"![comparison]({plot})", ""]
    return "\n".join(lines)


def _paired_rows(result: dict[str, Any], key: str) -> list[str]:
    return [
        f"| {row['name']} | {p['shared']} | {p['better']} | {p['worse']} | {p['p_value']:.3g} |"
        for row in result["runs"][1:]
        for p in [row[key]]
    ]


def _moves_rows(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Where the changed turns went",
        "",
        f"The commonest changes against {result['baseline']}; one line with many turns means a whole intent moved.",
        "",
        "| run | change | gold intent | was | now | turns |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["runs"][1:]:
        for kind in ("broken", "fixed"):
            lines += [
                f"| {row['name']} | {kind} | {m['gold']} | {m['was']} | {m['now']} | {m['turns']} |"
                for m in row["moves"][kind]
            ]
    return lines


def _per_intent_bars(result: dict[str, Any], path: Path) -> Path:
    intents = list(result["per_intent"])
    names = [r["name"] for r in result["runs"]]
    width = 0.8 / len(names)
    # capped: wide enough for ~25 intents x 3 runs, still readable on a laptop screen
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.25 * len(intents) * len(names) + 2)), 4.2))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(intents))]
        ax.bar(xs, [result["per_intent"][i][name] or 0.0 for i in intents], width, label=name)
    ax.set_xticks(range(len(intents)), intents, rotation=45, ha="right")
    # headroom above 1.0 for a one-row legend, which would otherwise hide the last bars
    ax.set_ylim(0, 1.15)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("accuracy")
    ax.set_title("Intent accuracy per gold intent")
    ax.legend(fontsize=8, ncol=len(names), loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _per_round_curves(runs: list[Run], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        ax.plot(*per_round_means(run.report, "iec"), marker="o", label=run.name)
    ax.set_xlabel("round of the dialogue")
    ax.set_ylabel("mean IEC")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("IEC per dialogue round")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
