"""Characters and storyboards (the directing tools).

Revision ID: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "characters",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("image", sa.String(length=200), nullable=False),
        sa.Column("object", sa.JSON(), nullable=True),
        sa.Column("source_video", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("characters_by_client", "characters", ["client", "name"], unique=True)
    op.create_table(
        "boards",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("shots", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result_video", sa.String(length=40), nullable=True),
        sa.Column("stitched_from", sa.JSON(), nullable=True),
        sa.Column("busy_until", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("boards_by_client", "boards", ["client", "created_at"])
    op.create_index("boards_status", "boards", ["status"])


def downgrade() -> None:
    op.drop_index("boards_status", "boards")
    op.drop_index("boards_by_client", "boards")
    op.drop_table("boards")
    op.drop_index("characters_by_client", "characters")
    op.drop_table("characters")
