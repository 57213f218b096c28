"""PostgreSQL: the per-row viewport-grid trigger on insert can be switched off for one
transaction, so a bulk insert adds its rows' cells in one statement instead.

Storing 100,000 testimonies spent ~90 % of its time in testimony_cells_ins (one plpgsql call
and a seven-row upsert per row: 1,500 rows/s). A large import now sets
`geomap.bulk_cells = on` for its own transaction (SET LOCAL), inserts with COPY, adds the cells
of those rows in one grouped upsert, and sets it off again (geomap.store.intake). The test is
in the trigger's WHEN clause, evaluated in C; every other insert is unchanged.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

SWITCH = "geomap.bulk_cells"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER testimony_cells_ins ON testimonies")
    op.execute(f"""
        CREATE TRIGGER testimony_cells_ins AFTER INSERT ON testimonies FOR EACH ROW
        WHEN (NEW.minx IS NOT NULL
              AND current_setting('{SWITCH}', true) IS DISTINCT FROM 'on')
        EXECUTE FUNCTION testimony_cells_apply()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER testimony_cells_ins ON testimonies")
    op.execute("""
        CREATE TRIGGER testimony_cells_ins AFTER INSERT ON testimonies FOR EACH ROW
        WHEN (NEW.minx IS NOT NULL) EXECUTE FUNCTION testimony_cells_apply()""")
