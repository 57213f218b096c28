"""A covering index for per-tier counts (testimonies, witnesses, unlocated, synthetic), so the
map header's counts read the index instead of the table; it replaces the plain tier index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_testimonies_stats", "testimonies",
                    ["tier", "witness_ref", "synthetic", "minx"])
    op.drop_index("ix_testimonies_tier", "testimonies")


def downgrade() -> None:
    op.create_index("ix_testimonies_tier", "testimonies", ["tier"])
    op.drop_index("ix_testimonies_stats", "testimonies")
