"""SQLite: drop the R*Tree of testimonies and its triggers; nothing reads it any more.

Testimonies are points: every bbox query on them (viewports, their grid's edges, filters) has
been answered by the covering indexes (tier, minx, miny) and (tier, miny, minx) since 0012 and
0013, faster than through the R*Tree's candidate set. The R*Tree was still written on every
insert, move and delete: a sixth of the work of storing an import (bench/intake.py).
boundary_units and sites keep theirs (areas, and the queries that use them). PostgreSQL keeps
its GiST index: nothing changes there.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("testimonies_rtree_ins", "testimonies_rtree_upd", "testimonies_rtree_del"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS testimonies_rtree")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE testimonies_rtree USING rtree(id, minx, maxx, miny, maxy)")
    op.execute("INSERT INTO testimonies_rtree SELECT id, minx, maxx, miny, maxy FROM testimonies "
               "WHERE minx IS NOT NULL")
    op.execute("""
        CREATE TRIGGER testimonies_rtree_ins AFTER INSERT ON testimonies WHEN new.minx IS NOT NULL
        BEGIN
          INSERT INTO testimonies_rtree VALUES (new.id, new.minx, new.maxx, new.miny, new.maxy);
        END""")
    op.execute("""
        CREATE TRIGGER testimonies_rtree_upd AFTER UPDATE OF minx, miny, maxx, maxy ON testimonies
        BEGIN
          DELETE FROM testimonies_rtree WHERE id = old.id;
          INSERT INTO testimonies_rtree SELECT new.id, new.minx, new.maxx, new.miny, new.maxy
            WHERE new.minx IS NOT NULL;
        END""")
    op.execute("""
        CREATE TRIGGER testimonies_rtree_del AFTER DELETE ON testimonies BEGIN
          DELETE FROM testimonies_rtree WHERE id = old.id;
        END""")
