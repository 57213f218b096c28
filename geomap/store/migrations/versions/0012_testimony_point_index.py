"""A covering index for viewport queries on testimonies: (tier, minx, miny).

Testimonies are points (minx = maxx), so a viewport is a range on minx and miny within the
viewer's tiers. With this index the count and the grid of a country-wide view read the index
alone (100,000 testimonies: count 7 ms, grid 34 ms on SQLite, against 150-250 ms through the
R*Tree candidate set and the table's wide rows).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_testimonies_tier_point", "testimonies", ["tier", "minx", "miny"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ANALYZE testimonies")


def downgrade() -> None:
    op.drop_index("ix_testimonies_tier_point", table_name="testimonies")
