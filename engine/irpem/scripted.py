"""A scripted IRPEM for plumbing tests: returns queued answers in order, no model."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.queue import DialogueTurn


class ScriptExhausted(RuntimeError):
    """``propose`` was called more often than answers were queued."""


class ScriptedIrpem:
    """Answers ``propose`` with the queued outputs, first in first out. Dicts are dumped to
    compact JSON; strings are returned as is (so tests can queue broken answers too).
    Every call is recorded in ``calls`` as ``(dialogue, current_image, enabled, kwargs)``."""

    def __init__(self, outputs: Iterable[str | dict[str, Any]] = ()) -> None:
        self._queue: list[str] = []
        self.calls: list[tuple[list[DialogueTurn], int | None, list[str] | None, dict[str, Any]]] = []
        self.extend(outputs)

    def push(self, output: str | dict[str, Any]) -> None:
        self._queue.append(output if isinstance(output, str) else json.dumps(output, separators=(",", ":")))

    def extend(self, outputs: Iterable[str | dict[str, Any]]) -> None:
        for out in outputs:
            self.push(out)

    @property
    def remaining(self) -> int:
        return len(self._queue)

    def propose(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
        *,
        sample: bool = False,
        seed: int | None = None,
        only: str | None = None,
    ) -> str:
        self.calls.append((list(dialogue), current_image, enabled, {"sample": sample, "seed": seed, "only": only}))
        if not self._queue:
            raise ScriptExhausted(f"ScriptedIrpem has no answer left (call {len(self.calls)}; queue more outputs)")
        return self._queue.pop(0)

    def propose_candidates(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
        *,
        n: int = 2,
        seed: int | None = None,
    ) -> list[str]:
        return [self.propose(dialogue, current_image, enabled, sample=True, seed=seed) for _ in range(n)]
