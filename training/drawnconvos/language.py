"""Surface variety of user turns: typos, politeness, casing, chatter.

Noise touches only the *literal* words of a phrasing, never the slot values (subjects,
instructions, negatives): the gold parameters are the clean slot values, and a typo inside
one would make the gold label disagree with what the user asked for.
"""

from __future__ import annotations

import random
import re

from training.drawnconvos.vocab import pool

TYPO_TURN_RATE = 0.18
TYPO_WORD_RATE = 0.25
_SLOT = re.compile(r"(\{\w+\})")

# Openers and closers that fit in front of / after any request. Pooled like every phrasing
# list, so TEST turns wear wrappers that training never saw.
OPENERS = [
    "",
    "hey, ",
    "hi! ",
    "ok ",
    "so ",
    "hmm, ",
    "alright, ",
    "yo ",
    "okay so ",
    "right, ",
    "hello, ",
    "um, ",
    "cool, ",
    "next: ",
    "oh and ",
    "well, ",
    "quick one: ",
    "hiya, ",
    "good morning! ",
    "now ",
]
CLOSERS = [
    "",
    " please",
    ", thanks!",
    " pls",
    " thank you :)",
    " if you can",
    " please!",
    " thx",
    ", cheers",
    " 🙏",
    " ty",
    ", would be great",
    " plz",
    ", thanks a lot",
    " :D",
    ", much appreciated",
    " 🙂",
    " asap",
    ", if that's ok",
    "!!",
]
CHATTER = [
    "I'm making a birthday card for my sister.",
    "This is for my D&D campaign.",
    "My kid asked me for this.",
    "Need it for a presentation tomorrow.",
    "Just playing around here.",
    "I saw something like this in a dream.",
    "It's for our team's newsletter.",
    "Trying out this bot for the first time.",
    "I want to print it as a poster.",
    "My friend bet me you couldn't do this.",
    "Long day, I need something cheerful.",
    "We're decorating the classroom.",
    "I'm writing a short story and need a cover.",
    "It's going on my wall.",
    "This is for a zine I'm putting together.",
    "Working on a mood board.",
    "It's a gift for my grandma.",
    "We're planning a themed party.",
    "I need a new desktop wallpaper.",
    "Our discord server needs an icon.",
]


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swapped neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # dropped letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # doubled letter


def typos(text: str, rng: random.Random) -> str:
    return " ".join(_typo(w, rng) if rng.random() < TYPO_WORD_RATE else w for w in text.split(" "))


def fill(phrasing: str, slots: dict[str, str], rng: random.Random, noisy: bool) -> str:
    """The phrasing with its slots filled; typos (when ``noisy``) only in literal parts."""
    parts = _SLOT.split(phrasing)
    out = []
    for part in parts:
        if _SLOT.fullmatch(part):
            out.append(slots[part[1:-1]])
        else:
            out.append(typos(part, rng) if noisy and part.strip() else part)
    return "".join(out)


def dress(text: str, rng: random.Random, split: str) -> str:
    """Whole-turn variety: opener/closer, a chatty sentence for long turns, casing."""
    r = rng.random()
    if r < 0.35:
        text = rng.choice(pool(OPENERS, split)) + text
    elif r < 0.6:
        text = text + rng.choice(pool(CLOSERS, split))
    if rng.random() < 0.1:
        chatter = rng.choice(pool(CHATTER, split))
        text = f"{chatter} {text}" if rng.random() < 0.5 else f"{text}. {chatter}"
    c = rng.random()
    if c < 0.45:
        text = text.lower()
    elif c < 0.85:
        text = text[:1].upper() + text[1:]
    elif c < 0.88:
        text = text.upper()
    return text.strip()
