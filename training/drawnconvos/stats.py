"""stats.json of a DrawnConvos run: sizes, turn-count distribution, intent counts,
distinct-2 of the user turns, and template coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams (words lowercased, split on whitespace), pooled
    over the texts: 1.0 means no n-gram repeats anywhere."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = text.lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 4) if total else 0.0


def phrasing_ids(dialogue: dict[str, Any]) -> list[str]:
    """The phrasings (``<template key>.<list>.<index>``) that wrote a dialogue's user turns."""
    return [tid for t in dialogue["turns"] if t["role"] == "assistant" for tid in t.get("phrasings", [])]


def dialogue_stats(
    by_split: dict[str, list[dict[str, Any]]], list_sizes: dict[str, int], intents: list[str], skipped: list[str]
) -> dict[str, Any]:
    all_dialogues = [d for ds in by_split.values() for d in ds]
    rounds = Counter(sum(t["role"] == "user" for t in d["turns"]) for d in all_dialogues)
    n = len(all_dialogues) or 1
    intent_counts = Counter(t["gold"]["intent"] for d in all_dialogues for t in d["turns"] if t["role"] == "assistant")
    user_texts = {
        split: [t["text"] for d in ds for t in d["turns"] if t["role"] == "user"] for split, ds in by_split.items()
    }
    used: dict[str, dict[str, set[int]]] = {}
    for split, ds in by_split.items():
        side = "test" if split == "test" else "train"
        for d in ds:
            for tid in phrasing_ids(d):
                name, idx = tid.rsplit(".", 1)
                used.setdefault(name, {"train": set(), "test": set()})[side].add(int(idx))
    coverage = {
        name: {"phrasings": list_sizes.get(name, 0), "used_train": len(sides["train"]), "used_test": len(sides["test"])}
        for name, sides in sorted(used.items())
    }
    total_phrasings = sum(c["phrasings"] for c in coverage.values())
    used_phrasings = sum(c["used_train"] + c["used_test"] for c in coverage.values())
    return {
        "dialogues": {split: len(ds) for split, ds in by_split.items()},
        "assistant_turns": sum(intent_counts.values()),
        "rounds": {str(k): rounds[k] for k in sorted(rounds)},
        "rounds_share": {
            "1": round(rounds[1] / n, 4),
            "2-3": round((rounds[2] + rounds[3]) / n, 4),
            "4+": round(sum(v for k, v in rounds.items() if k >= 4) / n, 4),
        },
        "intents": {i: intent_counts.get(i, 0) for i in intents},
        "intents_without_template": skipped,
        "distinct_2": {
            "all": distinct_n(t for ts in user_texts.values() for t in ts),
            **{split: distinct_n(ts) for split, ts in user_texts.items()},
        },
        "template_coverage": {
            "phrasings_used": used_phrasings,
            "phrasings": total_phrasings,
            "share": round(used_phrasings / total_phrasings, 4) if total_phrasings else 0.0,
            "lists": coverage,
        },
    }
