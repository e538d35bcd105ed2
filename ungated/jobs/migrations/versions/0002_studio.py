"""The studio: preview frames, the public feed, favourites, artist profiles and API keys.

Revision ID: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("preview_step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("videos_feed", ["public", "status", "created_at"], unique=False)
    op.create_table(
        "favourites",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("video_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client", "video_id"),
    )
    op.create_table(
        "profiles",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("artist", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("client"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("concurrent", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("profiles")
    op.drop_table("favourites")
    with op.batch_alter_table("videos") as batch_op:
        batch_op.drop_index("videos_feed")
        batch_op.drop_column("preview_step")
        batch_op.drop_column("public")
