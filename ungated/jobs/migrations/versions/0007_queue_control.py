"""The queue in the artist's hands: a client may pause their own queue (issue 32).

Revision ID: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_pauses",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("paused_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client"),
    )


def downgrade() -> None:
    op.drop_table("queue_pauses")
