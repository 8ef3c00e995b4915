"""Running the benchmark: predict every assistant turn of a dialogue file with the IRPEM,
score the answers (``eval.metrics.intent``), write the report (``eval.report``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from eval.dialogues import Case, cases, read_dialogues, subset
from eval.metrics.intent import score_predictions
from eval.report import write_intent_report

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.irpem import Irpem
    from engine.registry import Registry


def load_cases(data: Path, limit: int | None = None, seed: int = 0) -> list[Case]:
    """All cases of the file, or ``limit`` of them drawn with ``seed`` (same seed, same subset)."""
    return subset([c for d in read_dialogues(data) for c in cases(d)], limit, seed)


def run_irpem_eval(
    settings: Settings,
    registry: Registry,
    data: Path,
    out: Path,
    *,
    irpem: Irpem | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Score the IRPEM on ``data``; writes report.json, report.md and plots into ``out``."""
    if irpem is None:
        from engine.irpem import load_irpem

        irpem = load_irpem(settings, registry)
    items = []
    started = time.perf_counter()
    for case in tqdm(load_cases(data, limit, seed), desc="IRPEM eval", unit="turn"):
        items.append((case, irpem.propose(case.context, case.current_image)))
    report = score_predictions(items, registry).to_dict()
    report.update(
        data=str(data),
        seed=seed,
        limit=limit,
        seconds=round(time.perf_counter() - started, 1),
        base=settings.irpem.base,
        adapter=settings.irpem.adapter,
        quantize=settings.irpem.quantize,
    )
    write_intent_report(report, out)
    return report
