"""sessions: the undo history of the current image; turns: the chosen A/B candidate; one
shape of a stored A/B result

Undo used to go back to ``images.replaced_number`` (the picture the current one replaced),
a rule that disagreed with the history DrawnConvos labels by ("go back to #1", then "undo"
must return to #2). ``sessions.image_history`` now holds the current image after each
change (``engine.session.ImageState``). Existing sessions get the chain of pictures the old
rule would have walked back through, so their next undo does what it did before.
A/B results kept each candidate's content addresses under the candidate; they now sit in
``images`` beside ``numbers``, as for any other result.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 00:00:00

"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

sessions = sa.table(
    "sessions",
    sa.column("id", sa.Integer),
    sa.column("current_image_number", sa.Integer),
    sa.column("image_history", sa.JSON),
)
images = sa.table(
    "images",
    sa.column("session_id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("replaced_number", sa.Integer),
)
jobs = sa.table("jobs", sa.column("id", sa.Integer), sa.column("result", sa.JSON))
HISTORY_LIMIT = 200  # engine.session.HISTORY_LIMIT when this was written


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("image_history", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("chosen", sa.Integer(), nullable=True))
    bind = op.get_bind()
    replaced: dict[int, dict[int, int | None]] = {}
    for session_id, number, before in bind.execute(
        sa.select(images.c.session_id, images.c.number, images.c.replaced_number)
    ):
        replaced.setdefault(session_id, {})[number] = before
    for session_id, current in bind.execute(sa.select(sessions.c.id, sessions.c.current_image_number)):
        chain: list[int] = []
        while current is not None and current not in chain and len(chain) < HISTORY_LIMIT:
            chain.append(current)
            current = replaced.get(session_id, {}).get(current)
        if chain:
            bind.execute(sessions.update().where(sessions.c.id == session_id).values(image_history=chain[::-1]))
    for job_id, result in bind.execute(sa.select(jobs.c.id, jobs.c.result).where(jobs.c.result.is_not(None))):
        result = json.loads(result) if isinstance(result, str) else result
        candidates = result.get("candidates") or []
        if candidates and any("images" in c for c in candidates):
            result["images"] = [sha for c in candidates for sha in c.pop("images", [])]
            bind.execute(jobs.update().where(jobs.c.id == job_id).values(result=result))
    with op.batch_alter_table("images") as batch:
        batch.drop_column("replaced_number")
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("image_history", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("replaced_number", sa.Integer(), nullable=True))
    bind = op.get_bind()
    # Each image of the history replaced the entry before it: what the old undo reads.
    for session_id, history in bind.execute(sa.select(sessions.c.id, sessions.c.image_history)):
        history = json.loads(history) if isinstance(history, str) else history or []
        for before, number in zip(history, history[1:]):
            bind.execute(
                images.update()
                .where(images.c.session_id == session_id, images.c.number == number)
                .values(replaced_number=before)
            )
    for job_id, result in bind.execute(sa.select(jobs.c.id, jobs.c.result).where(jobs.c.result.is_not(None))):
        result = json.loads(result) if isinstance(result, str) else result
        candidates = result.get("candidates") or []
        if candidates:
            shas = iter(result.get("images") or [])
            for c in candidates:
                c["images"] = [next(shas) for _ in c.get("numbers") or []]
            result["images"] = candidates[0]["images"]
            bind.execute(jobs.update().where(jobs.c.id == job_id).values(result=result))
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("chosen")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("image_history")
