"""Testimony-site links with their evidence and a person's decision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("testimony_id", sa.Integer,
                  sa.ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("engine", sa.String(32), nullable=False),
    )
    op.create_index("ix_links_site_status", "links", ["site_id", "status"])
    op.create_index("ix_links_status_score", "links", ["status", "score"])


def downgrade() -> None:
    op.drop_table("links")
