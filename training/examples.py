"""Token-level training examples, built with the very functions the IRPEM uses at inference
(``build_messages`` + ``encode_prompt``, ``canonical_json`` for the answer), so an adapter is
trained on exactly the tokens it will see and write.

The answer is the canonical JSON followed by the tokenizer's end-of-turn token, which is one
of the backend's stop tokens: the adapter learns to stop where constrained decoding ends.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.irpem.prompt import build_messages, canonical_json, encode_prompt, reserved_strings
from eval.dialogues import Case, cases, read_dialogues

if TYPE_CHECKING:
    from engine.queue import DialogueTurn
    from engine.registry import Registry


@dataclass
class PromptBuilder:
    """Prompts and answers as token ids, for one tokenizer and prompt mode."""

    tokenizer: Any
    registry: Registry
    mode: str = "short"
    max_turns: int = 8

    def __post_init__(self) -> None:
        self.reserved = reserved_strings(self.tokenizer)
        if self.tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no end-of-sequence token to end answers with")

    def messages(
        self, dialogue: Sequence[DialogueTurn], current_image: int | None, enabled: list[str] | None = None
    ) -> list[dict[str, str]]:
        return build_messages(
            self.registry,
            dialogue,
            current_image,
            enabled,
            max_turns=self.max_turns,
            reserved=self.reserved,
            mode=self.mode,
        )

    def prompt_ids(
        self, dialogue: Sequence[DialogueTurn], current_image: int | None, enabled: list[str] | None = None
    ) -> list[int]:
        prefix, rest = encode_prompt(self.tokenizer, self.messages(dialogue, current_image, enabled))
        return prefix + rest

    def prompt_text(
        self, dialogue: Sequence[DialogueTurn], current_image: int | None, enabled: list[str] | None = None
    ) -> str:
        return self.tokenizer.apply_chat_template(
            self.messages(dialogue, current_image, enabled), tokenize=False, add_generation_prompt=True
        )

    def answer_text(self, output: dict[str, Any]) -> str:
        return canonical_json(output, self.registry)

    def answer_ids(self, output: dict[str, Any]) -> list[int]:
        ids = self.tokenizer(self.answer_text(output), add_special_tokens=False)["input_ids"]
        return list(ids) + [self.tokenizer.eos_token_id]

    def sft_example(self, case: Case) -> dict[str, Any]:
        prompt = self.prompt_ids(case.context, case.current_image)
        answer = self.answer_ids(case.gold)
        return {
            "input_ids": prompt + answer,
            "completion_mask": [0] * len(prompt) + [1] * len(answer),
            "intent": case.gold["intent"],
        }


def load_cases(paths: Iterable[str | Path], max_dialogues: int | None = None) -> list[Case]:
    """Every assistant turn of the first ``max_dialogues`` dialogues of the files."""
    out: list[Case] = []
    seen = 0
    for path in paths:
        for dialogue in read_dialogues(path):
            if max_dialogues is not None and seen >= max_dialogues:
                return out
            seen += 1
            out.extend(cases(dialogue))
    return out


def length_summary(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }
