"""PostgreSQL: drop the GiST index on testimonies' bbox envelope; nothing needs it any more.

Testimonies are points, and every bbox query on them now compares their coordinates through
the covering (tier, minx, miny) and (tier, miny, minx) indexes, as on SQLite since 0018: a
view's grid comes from testimony_cells (0013) and its edges and points from those indexes.
The GiST index was still written on every insert and move: a tenth of storing an import
(bench/intake.py). boundary_units and sites keep theirs (areas).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_testimonies_bbox_gist")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_testimonies_bbox_gist ON testimonies "
                   "USING gist (ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))")
