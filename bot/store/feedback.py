"""Feedback rows: votes, A/B choices and corrections, one answer per user, turn and group
(``engine.session.FEEDBACK_GROUPS``). ``preferences`` turns them into training pairs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.models import Feedback, utcnow
from engine.session import FEEDBACK_GROUPS


async def set_vote(
    db: Database,
    turn_id: int,
    user_id: str,
    kind: str,
    *,
    candidate: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Feedback:
    """Record a user's feedback on a turn. Kinds of one group (👍/👎; A/B/neither;
    correction) replace each other: one row per (turn, user, group), updated in place."""
    group = FEEDBACK_GROUPS.get(kind)
    if group is None:
        raise ValueError(f"unknown feedback kind {kind!r} (one of {', '.join(FEEDBACK_GROUPS)})")
    for attempt in range(2):
        try:
            async with db.write() as s:
                q = select(Feedback).where(
                    Feedback.turn_id == turn_id, Feedback.user_id == user_id, Feedback.kind_group == group
                )
                row = (await s.execute(q)).scalar_one_or_none()
                if row is None:
                    row = Feedback(
                        turn_id=turn_id,
                        user_id=user_id,
                        kind=kind,
                        kind_group=group,
                        candidate=candidate,
                        payload=payload,
                    )
                    s.add(row)
                else:
                    row.kind, row.candidate, row.payload = kind, candidate, payload
                    row.updated_at = utcnow()
            return row
        except IntegrityError:
            if attempt:  # not a lost race: e.g. the turn does not exist
                raise
    raise AssertionError("unreachable")


async def feedback_for_turn(db: Database, turn_id: int) -> list[Feedback]:
    async with db.session() as s:
        q = select(Feedback).where(Feedback.turn_id == turn_id).order_by(Feedback.id)
        return list((await s.execute(q)).scalars())
