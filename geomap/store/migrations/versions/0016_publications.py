"""Publications (issue 14): a redacted public view, its draft composition, and every published
version with the snapshot computed once at publish time.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "publication_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("publication_id", sa.Integer,
                  sa.ForeignKey("publications.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
        sa.Column("unpublished_by", sa.String(64)),
        sa.Column("unpublished_at", sa.DateTime),
        sa.UniqueConstraint("publication_id", "version", name="uq_publication_version"),
    )


def downgrade() -> None:
    op.drop_table("publication_versions")
    op.drop_table("publications")
