"""The optional paraphrase pass of DrawnConvos: a configured chat LM rewrites a share of the
user turns of the SFT and RLHF splits, for wording the templates do not have.

A rewrite must not change what the turn asks for, or its gold label would be wrong. So a
rewrite is kept only if it still contains every word the label copies from the turn (the
prompt, the region, the text to add, the negatives, ``#k`` image references) and is one
line of sensible length; otherwise the template's turn stays. TEST is never rewritten: its
phrasings are the held-out ones the score is about.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

INSTRUCTION = (
    "Rewrite the user's message to an image-drawing bot in different words, as a "
    "person would type it. Keep its meaning and keep every quoted word, name, colour, "
    "number and #image reference. Answer with the rewritten message only."
)
_IMAGE_REF = re.compile(r"#\d+")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def required_spans(text: str, gold: dict[str, Any], negatives: list[str]) -> list[str]:
    """What a rewrite of ``text`` must keep: the label's strings that the turn contains
    (case-insensitive), its negatives, and its ``#k`` references."""
    lower = text.lower()
    spans = [s for s in _strings(gold.get("params", {})) if s and s.lower() in lower]
    spans += [n for n in negatives if n and n.lower() in lower]
    spans += _IMAGE_REF.findall(text)
    return spans


def acceptable(original: str, rewrite: str, spans: list[str]) -> bool:
    rewrite = rewrite.strip()
    if not rewrite or "\n" in rewrite or rewrite.lower() == original.strip().lower():
        return False
    if not 0.5 * len(original) <= len(rewrite) <= 2.5 * len(original) + 20:
        return False
    lower = rewrite.lower()
    return all(s.lower() in lower for s in spans)


@dataclass
class Paraphraser:
    """A chat LM (any ``from_pretrained`` causal LM with a chat template) that rewrites one
    message at a time, sampled with a per-message seed so the pass is reproducible."""

    model_path: str
    max_new_tokens: int = 64
    temperature: float = 0.8
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self._model = AutoModelForCausalLM.from_pretrained(self.model_path).eval()

    def rewrite(self, text: str, seed: int) -> str:
        import torch

        messages = [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": text}]
        ids = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self._model.generate(
                **ids,
                max_new_tokens=self.max_new_tokens,
                do_sample=True,
                temperature=self.temperature,
                top_p=0.95,
                pad_token_id=self._tokenizer.eos_token_id,
            )
        answer = self._tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        return answer.strip().strip('"').strip()


def paraphrase_dialogues(
    dialogues: list[dict[str, Any]], paraphraser: Paraphraser, share: float, seed: int, progress: Any = None
) -> dict[str, int]:
    """Rewrite about ``share`` of the user turns in place; return attempted/kept counts.
    Each rewritten turn keeps its template's text in ``original_text``."""
    rng = random.Random(f"paraphrase:{seed}")
    counts = {"attempted": 0, "kept": 0}
    for dialogue in dialogues:
        turns = dialogue["turns"]
        for i, turn in enumerate(turns[:-1]):
            answer = turns[i + 1]
            if turn["role"] != "user" or answer["role"] != "assistant" or rng.random() >= share:
                continue
            counts["attempted"] += 1
            spans = required_spans(turn["text"], answer["gold"], answer.get("negatives", []))
            rewrite = paraphraser.rewrite(turn["text"], seed=rng.randrange(2**31))
            if acceptable(turn["text"], rewrite, spans):
                turn["original_text"], turn["text"] = turn["text"], rewrite.strip()
                counts["kept"] += 1
            if progress is not None:
                progress.update(1)
    return counts
