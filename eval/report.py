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


def write_intent_report(report: dict[str, Any], out: Path, title: str = "IRPEM") -> list[Path]:
    """report.json, report.md and the plots for one intent-metrics run; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md"]
    files[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    files += [_per_intent_plot(report, out / "per_intent_accuracy.png"),
              _confusion_plot(report, out / "confusion_matrix.png")]
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
    lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


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
    for y, row in enumerate(counts):
        for x, c in enumerate(row):
            if c:
                ax.text(x, y, str(c), ha="center", va="center", fontsize=8)
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
