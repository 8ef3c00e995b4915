"""images.replaced_number for databases made before 0001 had it

0001 gained ``images.replaced_number`` (the picture an image replaced, which undo returns
to) after databases had already been made from it, and Alembic never re-runs a revision:
those databases failed every image query with "no such column". This adds the column
where it is missing and leaves every other database as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("images")}
    if "replaced_number" not in columns:
        with op.batch_alter_table("images") as batch:
            batch.add_column(sa.Column("replaced_number", sa.Integer(), nullable=True))


def downgrade() -> None:
    # The column belongs to 0001's schema; removing it here would break 0002's.
    pass
