"""Imagery scenes: the evidentiary original (hash), the COG working copy, footprint, metadata.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scenes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("acquired", sa.Date, nullable=False),
        sa.Column("sensor", sa.Text),
        sa.Column("provider", sa.Text),
        sa.Column("licence", sa.Text),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("res_m", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bands", sa.Integer, nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("rescale", sa.Text),
        sa.Column("footprint", sa.LargeBinary, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("minx", sa.Float), sa.Column("miny", sa.Float),
        sa.Column("maxx", sa.Float), sa.Column("maxy", sa.Float),
    )
    op.create_index("ix_scenes_acquired", "scenes", ["acquired"])


def downgrade() -> None:
    op.drop_table("scenes")
