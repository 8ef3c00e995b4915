"""The preference-pair format shared by the bot's ``/feedback export``, ``dialogdraw train
export-pairs`` and ``dialogdraw train dpo``: JSON Lines, one pair per line.

    {"context": {"dialogue": [{"role": "user", "text": "a fox", "images": []}, ...],
                 "current_image": 1, "enabled": ["text2image", "img2img", ...]},
     "chosen": {"intent": "img2img", "params": {...}, "response": "..."},
     "rejected": {"intent": "chat", "params": {...}, "response": "..."},
     "source": "ab", "provenance": {"guild": "1", "session": 4, "turn": 17, "user": "42"}}

``context`` is exactly what the IRPEM saw when it answered (the dialogue window, the current
image and the instances offered), so ``engine.irpem.prompt.build_messages`` rebuilds the very
prompt. ``chosen`` and ``rejected`` are IRPEM outputs (``engine.registry.IntentionParam``).
``source`` says where the preference came from:

- ``ab``: a user picked candidate A or B;
- ``correction``: neither candidate was right and the user wrote what they meant (chosen)
  against a candidate (rejected) — the paper's rule when no candidate meets expectations;
- ``vote``: a 👍 answer against a 👎 answer for the same context;
- ``drawnconvos``: the RLHF split, candidates ranked against the gold label.

Two pairs with the same context, chosen and rejected are one pair (see ``pair_key``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.queue import DialogueTurn

SOURCES = ("ab", "correction", "vote", "drawnconvos")


@dataclass
class PairContext:
    dialogue: list[DialogueTurn]
    current_image: int | None
    enabled: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialogue": [asdict(t) for t in self.dialogue],
            "current_image": self.current_image,
            "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairContext:
        return cls([DialogueTurn(**t) for t in d["dialogue"]], d.get("current_image"), d.get("enabled"))


@dataclass
class PreferencePair:
    context: PairContext
    chosen: dict[str, Any]
    rejected: dict[str, Any]
    source: str
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown preference source {self.source!r} (one of {', '.join(SOURCES)})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.context.to_dict(),
            "chosen": self.chosen,
            "rejected": self.rejected,
            "source": self.source,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreferencePair:
        return cls(
            PairContext.from_dict(d["context"]),
            d["chosen"],
            d["rejected"],
            d["source"],
            dict(d.get("provenance") or {}),
        )


def pair_key(pair: PreferencePair) -> str:
    """Identity of a pair for de-duplication: context + chosen + rejected, not provenance."""
    body = {k: v for k, v in pair.to_dict().items() if k in ("context", "chosen", "rejected")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def dedupe(pairs: Iterable[PreferencePair]) -> list[PreferencePair]:
    """The first of each group of equal pairs, in order. A pair whose chosen equals its
    rejected teaches nothing and is dropped."""
    seen: set[str] = set()
    out = []
    for pair in pairs:
        key = pair_key(pair)
        if key in seen or pair.chosen == pair.rejected:
            continue
        seen.add(key)
        out.append(pair)
    return out


def write_pairs(path: str | Path, pairs: Iterable[PreferencePair]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_pairs(path: str | Path) -> Iterator[PreferencePair]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield PreferencePair.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{n}: not a preference pair ({err})") from None
