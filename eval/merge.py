"""One report from ``eval irpem`` runs over disjoint parts of a dialogue file:
``dialogdraw eval merge RUN_DIR RUN_DIR [...] --out DIR``.

Decoding takes one sequence at a time, so on a CPU the cheapest way through a large file is
one process per core, each on its share of the dialogues; the merged report is the one a
single run over all of them would have written (means re-weighted by the turns they are
over), ready for ``eval compare``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.metrics.intent import intent_tallies, per_intent_rows

# means over every turn, and means over the turns with the gold intent (the paper's rule)
PER_TURN = ("isa", "parameter_accuracy_all", "structural_conformity", "structure_valid", "structure_clean")
PER_RIGHT_TURN = ("parameter_accuracy", "key_terms", "conditions", "negatives")
# what a run measured: parts made with another model or setting cannot be one run
SAME = ("base", "adapter", "quantize", "seed", "limit")


class MergeError(ValueError):
    """Reports that are not parts of one run."""


def merge_intent_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    if not reports:
        raise MergeError("nothing to merge")
    for key in SAME:
        values = {json.dumps(r.get(key)) for r in reports}
        if len(values) > 1:
            raise MergeError(f"the runs differ in {key} ({', '.join(sorted(values))}): not parts of one run")
    records = [r for rep in reports for r in rep["records"]]
    if len({(r["dialogue_id"], r["turn_index"]) for r in records}) != len(records):
        raise MergeError("the runs scored some turns twice: merge runs over disjoint dialogues")
    n = sum(r["n"] for r in reports)
    right = sum(r["param_n"] for r in reports)
    merged: dict[str, Any] = {"n": n, "param_n": right}
    for key in PER_TURN:
        merged[key] = sum(r[key] * r["n"] for r in reports) / n if n else 0.0
    for key in PER_RIGHT_TURN:
        merged[key] = sum(r[key] * r["param_n"] for r in reports) / right if right else 0.0
    per_intent, merged["confusion"] = intent_tallies((r["gold_intent"], r["pred_intent"]) for r in records)
    merged["per_intent"] = per_intent_rows(per_intent)
    merged["records"] = records
    merged["data"] = " + ".join(str(r.get("data", "?")) for r in reports)
    merged["seconds"] = round(sum(r.get("seconds", 0.0) for r in reports), 1)
    merged |= {key: reports[0].get(key) for key in SAME}
    return merged


def load_reports(dirs: list[Path]) -> list[dict[str, Any]]:
    reports = []
    for d in dirs:
        path = d / "report.json"
        if not path.is_file():
            raise MergeError(f"{d}: no report.json (is it an `eval irpem --out` folder?)")
        report = json.loads(path.read_text())
        if "isa" not in report:
            raise MergeError(f"{d}: not an `eval irpem` report")
        reports.append(report)
    return reports
