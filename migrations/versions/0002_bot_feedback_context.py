"""bot: the IRPEM context and A/B candidates of assistant turns, the status message of a
job, and an index for the per-user daily quota

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("candidates", sa.JSON(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("reply_message_id", sa.String(length=32), nullable=True))
    op.create_index("ix_jobs_user_id_created_at", "jobs", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_id_created_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("reply_message_id")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("candidates")
        batch.drop_column("context")
