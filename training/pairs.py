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

Spreading the turns is not enough: a pair that prefers intent A over intent B lowers B
everywhere, not only where A is right. On 1,000 TEST turns DPO turned revert into undo
(0.70 -> 0.20) and vqa into chat (0.66 -> 0.21) after pairs that rejected them a few times
and never chose them against undo or chat. ``mirror_pairs`` therefore answers every such
pair with its mirror image: on another RLHF turn whose gold is B, the gold answer is chosen
over an answer IRPEM(SFT) samples with decoding held to intent A. Each intent is then
rejected as often as it is preferred over the same rival, and what is left for DPO to
learn is which context calls for which.

Measured on the same 1,000 TEST turns, from the same SFT adapter and 261 pairs (+105 mirrors):
the mirrors keep vqa (0.72) and revert (0.65) where SFT had them and cut the turns DPO
changes from 181 to 126, but intent accuracy is no better (0.759 against 0.770 without and
0.777 for SFT; neither difference is significant), so they stay opt-in. Parameter accuracy
gains the same either way (+0.02, p < 1e-4). Dropping the intent-switch pairs instead is
worse: 0.736, 73 turns broken against 32 fixed.

From the all-layers SFT (0.845; 172 pairs + 47 mirrors) the picture is the same: with
mirrors 0.860, without 0.851 (63 turns against 54 between them, p = 0.46). Mirrors keep vqa
(0.90 against 0.69) and variation (0.96 against 0.71) and give back pan (0.48 against
0.71) and instruct_edit (0.69 against 0.90); the per-intent mean is 0.828 against 0.817.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from engine.irpem import Irpem, ScoringIrpem
from engine.irpem.pairs import PairContext, PreferencePair, dedupe
from engine.registry import IntentError
from eval.dialogues import Case, subset
from eval.metrics.intent import parameter_score, parse_output
from training.examples import load_cases

if TYPE_CHECKING:
    from engine.registry import Registry

RIGHT = 0.999  # a candidate is right when its intent is and its parameter score is ~1


def candidate_score(raw: str, case: Case, registry: Registry) -> float:
    """0 for a wrong intent, else 1 + the parameter score (so in [1, 2])."""
    intent, _ = parse_output(raw)
    if intent != case.gold["intent"]:
        return 0.0
    return (
        1.0 + parameter_score(raw, case.gold, case.negatives, current_image=case.current_image, registry=registry).total
    )


def _as_output(raw: str) -> dict[str, Any]:
    out = json.loads(raw)
    return {"intent": out["intent"], "params": out.get("params") or {}, "response": out.get("response", "")}


def _pair(case: Case, chosen: dict[str, Any], rejected: dict[str, Any], **provenance: Any) -> PreferencePair:
    """A DrawnConvos pair on ``case``'s context, its provenance naming the turn."""
    return PreferencePair(
        PairContext(list(case.context), case.current_image, None),
        chosen,
        rejected,
        "drawnconvos",
        {"dialogue": case.dialogue_id, "turn": case.turn_index, **provenance},
    )


def pairs_for_case(case: Case, candidates: list[str], registry: Registry) -> list[PreferencePair]:
    scored = sorted(
        ((candidate_score(c, case, registry), c) for c in dict.fromkeys(candidates)), key=lambda sc: sc[0], reverse=True
    )
    best_score, best = scored[0]
    if best_score < 1 + RIGHT:  # no candidate is right: gold against each of them
        return [_pair(case, case.gold, _as_output(c), rule="gold") for _, c in scored if _as_output(c) != case.gold]
    worse = [(s, c) for s, c in scored[1:] if s < best_score]
    return [_pair(case, _as_output(best), _as_output(c), rule="ranked") for _, c in worse[:1]]


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


def _case_key(case: Case) -> tuple[str, int]:
    return case.dialogue_id, case.turn_index


def mirror_pairs(
    irpem: Irpem, pairs: list[PreferencePair], pool: list[Case], *, seed: int = 0
) -> tuple[list[PreferencePair], int]:
    """One mirror pair for every pair whose chosen and rejected intents differ (A over B):
    a ``pool`` turn whose gold intent is B, its gold answer chosen over a sampled answer
    held to intent A. Each pool turn is used once; a pair whose B has no pool turn left on
    which A can run gets no mirror. Returns the mirrors and how many pairs got none."""
    rng = random.Random(seed)
    by_intent: dict[str, list[Case]] = defaultdict(list)
    for case in rng.sample(pool, len(pool)):
        by_intent[case.gold["intent"]].append(case)
    mirrors: list[PreferencePair] = []
    missing = 0
    switches = [p for p in pairs if p.chosen["intent"] != p.rejected["intent"]]
    for i, pair in enumerate(tqdm(switches, desc="mirror pairs", unit="pair")):
        a, b = pair.chosen["intent"], pair.rejected["intent"]
        mirror = None
        queue = by_intent[b]
        for j, case in enumerate(queue):
            try:
                raw = irpem.propose(
                    case.context, case.current_image, sample=True, seed=seed * 100_003 + 50_000 + i, only=a
                )
            except IntentError:  # A cannot run in this turn (no image yet): try another
                continue
            if parse_output(raw)[0] != a:  # the clarify fallback of an unfinished answer
                continue
            del queue[j]
            mirror = _pair(
                case,
                case.gold,
                _as_output(raw),
                rule="mirror",
                mirrors={k: pair.provenance.get(k) for k in ("dialogue", "turn")},
            )
            break
        if mirror is None:
            missing += 1
        else:
            mirrors.append(mirror)
    return mirrors, missing


def rival_pairs(
    irpem: ScoringIrpem, cases: list[Case], *, margin: float, seed: int = 0
) -> tuple[list[PreferencePair], int]:
    """On each turn, the gold answer chosen over an answer held to its rival: the other
    intent that IRPEM(SFT) scores highest there (``intent_scores``), when that rival is
    within ``margin`` nats of the gold intent or above it. Returns the pairs and how many
    turns got none (no rival that close, or its answer fell back to clarify). Measured from
    the 30k adapter, they add nothing over the paper's pairs: ISA 0.930 with or without the
    125 within 5 nats, 0.920 on them alone (SFT 0.933; bench/results/irpem_dpo_rival/)."""
    pairs: list[PreferencePair] = []
    far = 0
    for i, case in enumerate(tqdm(cases, desc="rival pairs", unit="turn")):
        gold = case.gold["intent"]
        scores = irpem.intent_scores(case.context, case.current_image)
        rivals = sorted(((s, name) for name, s in scores.items() if name != gold), reverse=True)
        behind = scores.get(gold, float("-inf")) - rivals[0][0] if rivals else float("inf")
        if behind > margin:
            far += 1
            continue
        rival = rivals[0][1]
        raw = irpem.propose(case.context, case.current_image, sample=True, seed=seed * 100_003 + 70_000 + i, only=rival)
        if parse_output(raw)[0] != rival:  # the clarify fallback of an unfinished answer
            far += 1
            continue
        pairs.append(_pair(case, case.gold, _as_output(raw), rule="rival", margin=round(behind, 3)))
    return pairs, far


def balance_rivals(pairs: list[PreferencePair]) -> list[PreferencePair]:
    """The rival pairs of ``pairs``, closest first, each intent rejected at most as often as
    the rival pairs choose it; other pairs are kept as they are. Rival pairs are lopsided
    (img2img was rejected 38 times and chosen 16, mostly under style_anime), and DPO then
    lowers the rejected intent everywhere: from the 30k adapter, DPO on the paper's 179 pairs
    and all 362 rival pairs turned 7 img2img TEST turns into style_* (ISA 0.933 -> 0.900);
    with the rival pairs balanced (239 kept) img2img stayed, 10 turns broke and 7 were fixed
    (0.923). bench/results/irpem_dpo_rival/ has the runs."""
    rivals = sorted((p for p in pairs if p.provenance.get("rule") == "rival"), key=lambda p: p.provenance["margin"])
    chosen = Counter(p.chosen["intent"] for p in rivals)
    rejected: Counter[str] = Counter()
    kept = []
    for p in rivals:
        if rejected[p.rejected["intent"]] < chosen[p.rejected["intent"]]:
            rejected[p.rejected["intent"]] += 1
            kept.append(p)
    return [p for p in pairs if p.provenance.get("rule") != "rival"] + kept


def make_pairs(
    irpem: Irpem,
    registry: Registry,
    data: list[Path],
    *,
    limit: int | None = None,
    seed: int = 0,
    balanced: bool = True,
    mirror: bool = False,
    rival: float | None = None,
    rival_balance: bool = False,
) -> tuple[list[PreferencePair], dict[str, int]]:
    """Pairs for (a ``limit``-sized sample of) the assistant turns of ``data``; the sample is
    spread evenly over gold intents unless ``balanced`` is off. With ``mirror``, every
    intent-switch pair gets its mirror image from the turns left out of the sample. With
    ``rival`` (a margin in nats), the same turns also get ``rival_pairs``, cut down by
    ``balance_rivals`` with ``rival_balance``."""
    if rival is not None and not isinstance(irpem, ScoringIrpem):
        # checked before the sampling pass, which takes minutes per hundred turns
        raise TypeError(f"rival pairs need an IRPEM that scores intents; {type(irpem).__name__} does not")
    everything = load_cases(data)
    cases = (balanced_subset if balanced else subset)(everything, limit, seed)
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
    if rival is not None:
        rivals, counts["no_close_rival"] = rival_pairs(irpem, cases, margin=rival, seed=seed)
        if rival_balance:
            counts["rival_unbalanced"] = len(rivals)
            rivals = balance_rivals(rivals)
        counts["rival"] = len(rivals)
        pairs.extend(rivals)
    pairs = dedupe(pairs)
    if mirror:
        used = {_case_key(c) for c in cases}
        mirrors, counts["unmirrored"] = mirror_pairs(
            irpem, pairs, [c for c in everything if _case_key(c) not in used], seed=seed
        )
        counts["mirror"] = len(mirrors)
        pairs = dedupe(pairs + mirrors)
    return pairs, counts
