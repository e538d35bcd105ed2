"""The first schema: videos (one clip and its job each), measured model speeds, live workers.

Revision ID: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("model_stats",
    sa.Column("model", sa.String(length=64), nullable=False),
    sa.Column("seconds_per_step", sa.Float(), nullable=False),
    sa.Column("jobs", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("model")
    )
    op.create_table("videos",
    sa.Column("id", sa.String(length=40), nullable=False),
    sa.Column("created_at", sa.Float(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("model", sa.String(length=64), nullable=False),
    sa.Column("requested_model", sa.String(length=64), nullable=False),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("prompt", sa.Text(), nullable=False),
    sa.Column("size", sa.String(length=16), nullable=False),
    sa.Column("seconds", sa.Float(), nullable=False),
    sa.Column("seed", sa.BigInteger(), nullable=False),
    sa.Column("steps", sa.Integer(), nullable=False),
    sa.Column("client", sa.String(length=64), nullable=False),
    sa.Column("artist", sa.String(length=100), nullable=False),
    sa.Column("batch_id", sa.String(length=40), nullable=False),
    sa.Column("variant", sa.Integer(), nullable=False),
    sa.Column("remixed_from", sa.String(length=40), nullable=True),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("fair_key", sa.Integer(), nullable=False),
    sa.Column("not_before", sa.Float(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(length=120), nullable=True),
    sa.Column("lease_token", sa.String(length=40), nullable=True),
    sa.Column("lease_until", sa.Float(), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("progress", sa.Integer(), nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.Float(), nullable=True),
    sa.Column("completed_at", sa.Float(), nullable=True),
    sa.Column("result", sa.String(length=200), nullable=True),
    sa.Column("error_code", sa.String(length=40), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index("videos_claim", ["status", "model", "priority", "fair_key", "created_at"], unique=False)
        batch_op.create_index("videos_created", ["created_at"], unique=False)
        batch_op.create_index("videos_listing", ["client", "created_at"], unique=False)

    op.create_table("workers",
    sa.Column("id", sa.String(length=120), nullable=False),
    sa.Column("host", sa.String(length=100), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("models", sa.JSON(), nullable=False),
    sa.Column("started_at", sa.Float(), nullable=False),
    sa.Column("seen_at", sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )


def downgrade() -> None:
    op.drop_table("workers")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("videos_listing")
        batch_op.drop_index("videos_created")
        batch_op.drop_index("videos_claim")

    op.drop_table("videos")
    op.drop_table("model_stats")
