"""Intent accuracy on TEST turns split by how old their wording is: turns whose phrasings all
existed in an earlier DrawnConvos (whose failures may have shaped later training phrasings)
against turns that use a phrasing added since (held out before anyone saw a score on it).

    .venv/bin/python bench/wording_age.py --old-data runs/irpem_ablation/data \\
        --data runs/irpem_ablation2/data runs/irpem_ablation2/runs/sft runs/irpem_ablation2/runs/sft-dpo

Phrasing lists only grow at the end (a phrasing's position decides its split), so a phrasing
id ``<key>.<list>.<i>`` is new when ``i`` is at least the list's size in the old data's
``stats.json``. A turn counts as new when any phrasing that wrote it (its ``phrasings``:
request, reference and attachment wording) is new.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-data", type=Path, required=True, help="DrawnConvos folder made before the change")
    p.add_argument("--data", type=Path, required=True, help="DrawnConvos folder the runs were scored on")
    p.add_argument("runs", type=Path, nargs="+", help="`eval irpem` output folders (report.json)")
    a = p.parse_args()

    from eval.dialogues import read_dialogues

    old_sizes = {
        name: v["phrasings"]
        for name, v in json.loads((a.old_data / "stats.json").read_text())["template_coverage"]["lists"].items()
    }
    dialogues = {d["id"]: d for d in read_dialogues(a.data / "test.jsonl")}
    print("| run | old wording | new wording |\n|---|---|---|")
    for run in a.runs:
        groups = {False: [0, 0], True: [0, 0]}
        for r in json.loads((run / "report.json").read_text())["records"]:
            ids = dialogues[r["dialogue_id"]]["turns"][r["turn_index"]]["phrasings"]
            new = any(int(i) >= old_sizes.get(name, 1 << 30) for name, i in (t.rsplit(".", 1) for t in ids))
            groups[new][0] += r["gold_intent"] == r["pred_intent"]
            groups[new][1] += 1
        cells = [f"{right / n:.3f} ({right}/{n})" if n else "—" for right, n in (groups[False], groups[True])]
        print(f"| {run.name} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
