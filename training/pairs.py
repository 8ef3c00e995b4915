"""Preference pairs from the DrawnConvos RLHF split (source ``drawnconvos``).

For every assistant turn, IRPEM(SFT) samples two candidates; each is ranked against the gold
label with the benchmark's own scoring (right intent, then parameter accuracy from
``eval.metrics.intent.parameter_score``). The better one is chosen over the worse one; when
neither is right, the gold answer is chosen over each wrong candidate (the paper's rule).
Two equally good candidates make no pair.

The sampled turns are spread evenly over the gold intents (``balanced_subset``): a plain
random sample follows the split's mix, so a few hundred turns hold a handful of pairs for
the rarer intents, and DPO then shifts the priors between look-alike intents by whichever
side happened to get more pairs (seen: remove_object lost 6 of 10 TEST turns to
remove_background on 5 pairs against 2).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from engine.irpem.pairs import PairContext, PreferencePair, dedupe
from eval.dialogues import Case, subset
from eval.metrics.intent import parameter_score, parse_output
from training.examples import load_cases

if TYPE_CHECKING:
    from engine.irpem import Irpem
    from engine.registry import Registry

RIGHT = 0.999  # a candidate is right when its intent is and its parameter score is ~1


def candidate_score(raw: str, case: Case, registry: "Registry") -> float:
    """0 for a wrong intent, else 1 + the parameter score (so in [1, 2])."""
    intent, _ = parse_output(raw)
    if intent != case.gold["intent"]:
        return 0.0
    return 1.0 + parameter_score(raw, case.gold, case.negatives, current_image=case.current_image,
                                 registry=registry).total


def _as_output(raw: str) -> dict[str, Any]:
    out = json.loads(raw)
    return {"intent": out["intent"], "params": out.get("params") or {}, "response": out.get("response", "")}


def pairs_for_case(case: Case, candidates: list[str], registry: "Registry") -> list[PreferencePair]:
    context = PairContext(list(case.context), case.current_image, None)
    prov = {"dialogue": case.dialogue_id, "turn": case.turn_index}
    scored = sorted(((candidate_score(c, case, registry), c) for c in dict.fromkeys(candidates)),
                    key=lambda sc: sc[0], reverse=True)
    best_score, best = scored[0]
    if best_score < 1 + RIGHT:  # no candidate is right: gold against each of them
        return [PreferencePair(context, case.gold, _as_output(c), "drawnconvos", prov | {"rule": "gold"})
                for _, c in scored if _as_output(c) != case.gold]
    worse = [(s, c) for s, c in scored[1:] if s < best_score]
    return [PreferencePair(context, _as_output(best), _as_output(c), "drawnconvos", prov | {"rule": "ranked"})
            for _, c in worse[:1]]


def balanced_subset(cases: list[Case], limit: int | None, seed: int) -> list[Case]:
    """``limit`` cases taken round-robin over the gold intents (each intent's cases in a
    seeded order), so every intent gets the same share until it runs out."""
    if limit is None or limit >= len(cases):
        return cases
    rng = random.Random(seed)
    by_intent: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_intent[case.gold["intent"]].append(case)
    queues = [rng.sample(group, len(group)) for _, group in sorted(by_intent.items())]
    picked: list[Case] = []
    while len(picked) < limit:
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop())
    return picked


def make_pairs(irpem: "Irpem", registry: "Registry", data: list[Path], *, limit: int | None = None,
               seed: int = 0, balanced: bool = True) -> tuple[list[PreferencePair], dict[str, int]]:
    """Pairs for (a ``limit``-sized sample of) the assistant turns of ``data``; the sample is
    spread evenly over gold intents unless ``balanced`` is off."""
    cases = (balanced_subset if balanced else subset)(load_cases(data), limit, seed)
    pairs: list[PreferencePair] = []
    counts = {"cases": len(cases), "gold_rule": 0, "ranked": 0, "no_preference": 0}
    for i, case in enumerate(tqdm(cases, desc="pairs", unit="turn")):
        candidates = irpem.propose_candidates(case.context, case.current_image, n=2, seed=seed * 100_003 + i)
        found = pairs_for_case(case, candidates, registry)
        if not found:
            counts["no_preference"] += 1
        for p in found:
            counts["gold_rule" if p.provenance["rule"] == "gold" else "ranked"] += 1
        pairs.extend(found)
    return dedupe(pairs), counts
