"""IRPEM — the Intention Recognition and Parameter Extraction Model.

It reads the dialogue and answers with one JSON object ``{"intent", "params", "response"}``
constrained to the enabled catalog (see ``engine.registry``). Implementations:

* ``TransformersIrpem`` (``engine.irpem.backend``): a causal LM (default the packaged
  SmolLM2-135M-Instruct, optionally + LoRA adapter) under xgrammar-constrained decoding;
* ``ScriptedIrpem`` (``engine.irpem.scripted``): queued answers, for plumbing tests.

Importing this package is cheap; torch/transformers load only with ``load_irpem``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.irpem.scripted import ScriptedIrpem, ScriptExhausted

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.irpem.backend import TransformersIrpem
    from engine.queue import DialogueTurn
    from engine.registry import Registry

__all__ = ["Irpem", "ScoringIrpem", "ScriptedIrpem", "ScriptExhausted", "TransformersIrpem", "load_irpem"]


@runtime_checkable
class Irpem(Protocol):
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
        """The raw JSON answer for the dialogue's last turn (greedy unless ``sample``);
        with ``only``, an answer that names that intent (a preference pair's contrast)."""

    def propose_candidates(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
        *,
        n: int = 2,
        seed: int | None = None,
    ) -> list[str]:
        """``n`` sampled answers (for an A/B choice)."""


@runtime_checkable
class ScoringIrpem(Irpem, Protocol):
    """An IRPEM that can also score every intent; training's rival pairs need it."""

    def intent_scores(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
    ) -> dict[str, float]:
        """Log-probability of each intent that can run here as the start of the answer."""


def _device(wanted: str) -> str:
    if wanted == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def load_irpem(settings: Settings, registry: Registry) -> Irpem:
    """The configured IRPEM: ``[irpem]`` base (+ adapter) on ``settings.device``."""
    from engine.irpem.backend import TransformersIrpem

    return TransformersIrpem(settings.irpem, registry, settings.data_dir, _device(settings.device))


def __getattr__(name: str):  # lazy: importing the backend pulls in torch
    if name == "TransformersIrpem":
        from engine.irpem.backend import TransformersIrpem

        return TransformersIrpem
    raise AttributeError(name)
