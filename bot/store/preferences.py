"""User feedback -> preference pairs for DPO, in the format of ``engine.irpem.pairs``.

The one place where feedback rows become training data: ``/feedback export`` and
``dialogdraw train export-pairs`` both call ``preference_pairs``. Each pair's context is the
assistant turn's ``context`` (exactly what the IRPEM read), so the pair rebuilds its prompt.

- A/B choice: the picked candidate against the other one (source ``ab``);
- "Neither" + correction: what the user wrote they meant against each candidate
  (``correction``), the paper's rule when no candidate meets expectations;
- 👍/👎: for one context, an answer voted up against a different answer voted down
  (``vote``). A lone vote makes no pair but stays stored, with its context, for later.

Answers are taken as the IRPEM wrote them (``irpem_raw``), not with the pipeline defaults
the validation filled in, so DPO compares outputs the model can actually produce. A
correction is the validated intent the user's words made.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.store.db import Database
from bot.store.jobs import StoredResult, parsed_answer
from bot.store.models import Feedback, Job, Session, Turn
from engine.irpem.pairs import PairContext, PreferencePair, dedupe
from engine.session import Candidate

CHOICE_INDEX = {"choice_a": 0, "choice_b": 1}


@dataclass
class FeedbackStats:
    kinds: Counter = field(default_factory=Counter)  # feedback kind -> rows
    pairs: Counter = field(default_factory=Counter)  # pair source -> pairs
    turns: int = 0  # assistant turns with any feedback


async def _feedback_rows(db: Database, guild_id: str | None) -> list[tuple[Feedback, Turn, Session]]:
    q = (
        select(Feedback, Turn, Session, Job.result)
        .join(Turn, Turn.id == Feedback.turn_id)
        .join(Session, Session.id == Turn.session_id)
        .outerjoin(Job, Job.id == Turn.job_id)
        .where(Turn.role == "assistant")
        .order_by(Feedback.turn_id, Feedback.id)
    )
    if guild_id is not None:
        q = q.where(Session.guild_id == guild_id)
    async with db.session() as s:
        rows = (await s.execute(q)).all()
    for _, turn, _, result in rows:  # the answer as the IRPEM wrote it, when it was the IRPEM's
        raw = parsed_answer(StoredResult.from_dict(result).irpem_raw) if result and not turn.candidates else None
        turn.answer = raw or turn.intent
    return [(fb, turn, session) for fb, turn, session, _ in rows]


def _answer(stored: dict[str, Any]) -> dict[str, Any]:
    candidate = Candidate.from_dict(stored)
    return candidate.raw or candidate.intent


def _provenance(session: Session, turn: Turn, user: str | None, **extra: Any) -> dict[str, Any]:
    return {"guild": session.guild_id, "session": session.id, "turn": turn.id, "user": user, **extra}


def _pairs_from(rows: list[tuple[Feedback, Turn, Session]]) -> list[PreferencePair]:
    pairs: list[PreferencePair] = []
    # context key -> (net vote of each turn's answer): votes pair only within one context
    voted: dict[str, list[tuple[int, Turn, Session]]] = defaultdict(list)
    net: dict[int, int] = defaultdict(int)
    turns: dict[int, tuple[Turn, Session]] = {}
    for fb, turn, session in rows:
        if turn.context is None:  # a turn stored before contexts were kept
            continue
        context = PairContext.from_dict(turn.context)
        candidates = [_answer(c) for c in turn.candidates or []]
        if fb.kind in CHOICE_INDEX and len(candidates) > CHOICE_INDEX[fb.kind]:
            chosen = candidates[CHOICE_INDEX[fb.kind]]
            for other in candidates:
                if other != chosen:
                    pairs.append(PreferencePair(context, chosen, other, "ab", _provenance(session, turn, fb.user_id)))
        elif fb.kind == "correction" and fb.payload and fb.payload.get("intent"):
            rejected = candidates or [turn.answer]
            for other in rejected:
                if other:
                    pairs.append(
                        PreferencePair(
                            context,
                            fb.payload["intent"],
                            other,
                            "correction",
                            _provenance(session, turn, fb.user_id, text=fb.payload.get("text")),
                        )
                    )
        elif fb.kind in ("up", "down") and turn.answer:
            net[turn.id] += 1 if fb.kind == "up" else -1
            turns[turn.id] = (turn, session)
    for turn_id, score in net.items():
        turn, session = turns[turn_id]
        if score:
            key = json.dumps(turn.context, sort_keys=True, ensure_ascii=False)
            voted[key].append((score, turn, session))
    for group in voted.values():
        for up_score, up, session in group:
            for down_score, down, _ in group:
                if up_score > 0 > down_score and up.answer != down.answer:
                    pairs.append(
                        PreferencePair(
                            PairContext.from_dict(up.context),
                            up.answer,
                            down.answer,
                            "vote",
                            _provenance(session, up, None, rejected_turn=down.id),
                        )
                    )
    return dedupe(pairs)


async def preference_pairs(db: Database, guild_id: str | None = None) -> list[PreferencePair]:
    """Every preference pair the stored feedback yields (of one server, when given),
    de-duplicated, in the order the feedback was given."""
    return _pairs_from(await _feedback_rows(db, guild_id))


async def feedback_stats(db: Database, guild_id: str | None = None) -> FeedbackStats:
    rows = await _feedback_rows(db, guild_id)
    stats = FeedbackStats()
    stats.kinds.update(fb.kind for fb, _, _ in rows)
    stats.turns = len({turn.id for _, turn, _ in rows})
    stats.pairs.update(p.source for p in _pairs_from(rows))
    return stats
