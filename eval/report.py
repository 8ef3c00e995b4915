"""Writing a benchmark run where people look: report.md (tables), report.json, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402

PAPER_IRPEM = {  # DialogDraw (AAAI 2025), Table 2, IRPEM on DrawnConvos TEST
    "zero-shot (paper)": {"isa": 0.702, "parameter_accuracy": 0.754, "structural_conformity": 0.738},
    "SFT+DPO (paper)": {"isa": 0.924, "parameter_accuracy": 0.892, "structural_conformity": 0.953},
}


PAPER_SYSTEM = {"m_vqa": 0.8491, "m_clip": 0.7835, "iec": 0.8196}  # DialogDraw, Table 1


def write_system_report(report: dict[str, Any], out: Path, title: str = "DialogDraw") -> list[Path]:
    """report.json, report.md and the per-round score curves for one system run."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md", out / "per_round_scores.png"]
    files[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _per_round_plot(report, files[2])

    def cell(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    lines = [
        f"# {title}: image metrics",
        "",
        f"{report['dialogues']} dialogues from `{report['data']}` (profile {report['profile']}); "
        f"{report['failed_turns']} turn(s) refused or failed.",
        "",
        "| run | M-VQA | M-CLIP | IEC |",
        "|---|---|---|---|",
        f"| {title} | {cell(report['m_vqa'])} | {cell(report['m_clip'])} | {cell(report['iec'])} |",
        f"| DialogDraw (paper) | {PAPER_SYSTEM['m_vqa']} | {PAPER_SYSTEM['m_clip']} | {PAPER_SYSTEM['iec']} |",
        "",
        f"![per-round scores]({files[2].name})",
        "",
    ]
    files[1].write_text("\n".join(lines))
    return files


def per_round_means(report: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    """Round numbers (1-based) and the mean of score ``key`` at each, over the dialogues."""
    at: dict[int, list[float]] = {}
    for d in report.get("per_dialogue", []):
        for i, r in enumerate(d.get("rounds", []), 1):
            if r.get(key) is not None:
                at.setdefault(i, []).append(r[key])
    xs = sorted(at)
    return xs, [sum(at[x]) / len(at[x]) for x in xs]


def _per_round_plot(report: dict[str, Any], path: Path) -> Path:
    """Mean VQA score and IEC at each round index across dialogues: do later turns drift?"""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("vqa", "VQA score"), ("iec", "IEC")):
        ax.plot(*per_round_means(report, key), marker="o", label=label)
    ax.set_xlabel("round of the dialogue")
    ax.set_ylabel("mean score")
    ax.set_ylim(-0.05, 1.05)
    ax.legend()
    ax.set_title("Scores per dialogue round")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_intent_report(report: dict[str, Any], out: Path, title: str = "IRPEM") -> list[Path]:
    """report.json, report.md and the plots for one intent-metrics run; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md"]
    files[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    files += [
        _per_intent_plot(report, out / "per_intent_accuracy.png"),
        _confusion_plot(report, out / "confusion_matrix.png"),
    ]
    files[1].write_text(_intent_markdown(report, title, [f.name for f in files[2:]]))
    return files


def _intent_markdown(report: dict[str, Any], title: str, plots: list[str]) -> str:
    rows = [(title, report), *PAPER_IRPEM.items()]
    lines = [
        f"# {title}: intent metrics",
        "",
        f"{report['n']} assistant turns from `{report.get('data', '?')}`.",
        "",
        "| run | Intent Switch Acc. | Parameter Acc. | Structural Conformity |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['isa']:.3f} | {r['parameter_accuracy']:.3f} | {r['structural_conformity']:.3f} |"
        for name, r in rows
    ]
    lines += ["", "## Per intent", "", "| gold intent | correct | total | accuracy |", "|---|---|---|---|"]
    for intent, row in sorted(report["per_intent"].items()):
        lines.append(f"| {intent} | {row['correct']} | {row['total']} | {row['accuracy']:.3f} |")
    lines += _mistakes_markdown(report.get("records", []))
    lines += _phrasings_markdown(report.get("records", []))
    lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def _mistakes_markdown(records: list[dict[str, Any]], top: int = 12) -> list[str]:
    """The most frequent (gold, predicted) confusions, each with one request it came from:
    where the data or the model needs work, in the user's own words."""
    wrong: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if r["pred_intent"] != r["gold_intent"]:
            wrong.setdefault((r["gold_intent"], r["pred_intent"]), []).append(r.get("request", ""))
    if not wrong:
        return []
    ranked = sorted(wrong.items(), key=lambda kv: (-len(kv[1]), str(kv[0])))[:top]
    lines = [
        "",
        f"## Most common mistakes ({sum(map(len, wrong.values()))} of {len(records)} turns wrong)",
        "",
        "| gold | predicted | turns | for example |",
        "|---|---|---|---|",
    ]
    for (gold, pred), requests in ranked:
        lines.append(f"| {gold} | {pred or '(no intent)'} | {len(requests)} | {_example(requests[0])} |")
    return lines


def _example(request: str) -> str:
    """A request as one short markdown table cell."""
    text = request.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 100 else text[:99] + "…"


def _phrasings_markdown(records: list[dict[str, Any]], top: int = 12) -> list[str]:
    """The phrasings (DrawnConvos ids) whose turns are misread most: one held-out wording the
    model cannot read can cost more than a whole weak intent."""
    turns: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        for tid in r.get("phrasings", []):
            turns.setdefault(tid, []).append(r)
    missed = {tid: [r for r in rs if r["pred_intent"] != r["gold_intent"]] for tid, rs in turns.items()}
    ranked = sorted((kv for kv in missed.items() if kv[1]), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    if not ranked:
        return []
    wrong = sum(r["pred_intent"] != r["gold_intent"] for r in records)
    lines = [
        "",
        f"## Phrasings misread most ({wrong} turns wrong; a turn counts under each phrasing "
        "that wrote it: request, reference and attachment wording)",
        "",
        "| phrasing | wrong | turns | for example |",
        "|---|---|---|---|",
    ]
    for tid, rs in ranked:
        pred = rs[0]["pred_intent"] or "(no intent)"
        lines.append(f"| {tid} | {len(rs)} | {len(turns[tid])} | {_example(rs[0].get('request', ''))} -> {pred} |")
    return lines


def _per_intent_plot(report: dict[str, Any], path: Path) -> Path:
    intents = sorted(report["per_intent"])
    acc = [report["per_intent"][i]["accuracy"] for i in intents]
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(intents) + 2), 3.5))
    ax.bar(intents, acc, color="#4c72b0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Intent accuracy per gold intent (ISA {report['isa']:.3f})")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _confusion_plot(report: dict[str, Any], path: Path) -> Path:
    confusion = report["confusion"]
    gold = sorted(confusion)
    pred = sorted({p for row in confusion.values() for p in row} | set(gold))
    counts = [[confusion[g].get(p, 0) for p in pred] for g in gold]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(pred) + 2), max(4, 0.4 * len(gold) + 2)))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(pred)), pred, rotation=60, ha="right")
    ax.set_yticks(range(len(gold)), gold)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("gold intent")
    darkest = max((c for row in counts for c in row), default=0)
    for y, row in enumerate(counts):
        for x, c in enumerate(row):
            if c:  # light text on the dark cells, or the count disappears
                ax.text(
                    x, y, str(c), ha="center", va="center", fontsize=8, color="white" if c > darkest / 2 else "black"
                )
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
