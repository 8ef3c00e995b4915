"""The dialogue file format shared by DrawnConvos (training), the benchmark (eval) and the
exports: JSON Lines, one dialogue per line.

    {"id": "d000042",
     "turns": [
       {"role": "user", "text": "a fox in a snowy forest", "images": []},
       {"role": "assistant", "gold": {"intent": "text2image",
                                      "params": {"prompt": "a fox in a snowy forest"},
                                      "response": "Here is your fox."},
        "negatives": [], "images": [1], "phrasings": ["text2image.ask.3"]},
       {"role": "user", "text": "now edit this photo instead", "images": [2]},
       ...],
     "meta": {"split": "test", "seed": 0}}

``images`` are the session image numbers (#n) a turn adds: attachments on user turns, outputs
on assistant turns. ``gold`` is a valid IRPEM output (``engine.registry.IntentionParam``).
``negatives`` lists terms the user excluded ("no people"): they belong in a negative prompt,
never in the positive one. An assistant turn may give ``current_image``: the image that is
current when the IRPEM answers it (without it, the session rules of ``engine.session`` give
it from the turns before: new images, undo, revert), and ``phrasings``: the DrawnConvos phrasing ids (``<template>.<list>.<index>``)
that wrote the user turn it answers, so a report can say which wordings the model misreads.
Every assistant turn is one prediction to score, with the turns before it as context.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.queue import DialogueTurn
from engine.session import replay


@dataclass
class Case:
    """One scored prediction: the context the IRPEM sees and the gold answer."""

    dialogue_id: str
    turn_index: int  # index of the assistant turn within the dialogue
    context: list[DialogueTurn]
    current_image: int | None
    gold: dict[str, Any]
    negatives: list[str] = field(default_factory=list)
    phrasings: list[str] = field(default_factory=list)  # DrawnConvos ids of the request's wording


def subset(items: list, limit: int | None, seed: int) -> list:
    """``limit`` of ``items`` drawn with ``seed`` (same seed, same subset), or all of them."""
    if limit is not None and limit < len(items):
        return random.Random(seed).sample(items, limit)
    return items


def read_dialogues(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{n}: not valid JSON ({err.msg})") from None


def cases(dialogue: dict[str, Any]) -> Iterator[Case]:
    """Every assistant turn of a dialogue as a Case. The context holds the turns before it
    (assistant turns as their gold response). The current image is the turn's
    ``current_image`` when the file gives it, else what the session rules make of the turns
    before (``engine.session.replay``: new images, undo and revert, as the bot applies them)."""
    turns = dialogue["turns"]
    states = iter(replay((t["role"], list(t.get("images", [])), t.get("gold")) for t in turns))
    context: list[DialogueTurn] = []
    for i, turn in enumerate(turns):
        images = list(turn.get("images", []))
        if turn["role"] == "assistant":
            current = turn.get("current_image", next(states).current)
            yield Case(
                dialogue["id"],
                i,
                list(context),
                current,
                turn["gold"],
                list(turn.get("negatives", [])),
                list(turn.get("phrasings", [])),
            )
            context.append(DialogueTurn("assistant", turn["gold"].get("response", ""), images))
        else:
            context.append(DialogueTurn("user", turn["text"], images))
