"""Precomputed viewport grid: testimony counts per tier and cell on a power-of-two ladder.

`testimony_cells` holds, for each level L of LEVELS, each tier and each cell
(cx, cy) = (floor((lon + 180) * 2**L), floor((lat + 90) * 2**L)), the number of located
testimonies and the sums of their coordinates (so the mean position of a cell's points is
sx / n). Triggers keep it in step with every insert, delete, move and tier change of a
testimony, so no Python write path has to know about it. A map view's grid then reads a few
hundred cells instead of every point in view (geomap.store.viewport).

A second index (tier, miny, minx) answers the thin top and bottom strips of a view, the way
(tier, minx, miny) (0012) answers the left and right ones.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# frozen copy of geomap.store.viewport.LEVELS: cell = 2**-L degrees (4 deg ... 1/1024 deg)
LEVELS = (-2, 0, 2, 4, 6, 8, 10)
_KEYS = "level, tier, cx, cy"


def _levels_sql() -> str:
    return ", ".join(f"({lv}, {2.0 ** lv!r})" for lv in LEVELS)


def upgrade() -> None:
    op.create_table(
        "testimony_cells",
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("tier", sa.String(16), primary_key=True),
        sa.Column("cx", sa.Integer, primary_key=True),
        sa.Column("cy", sa.Integer, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("sx", sa.Float, nullable=False),
        sa.Column("sy", sa.Float, nullable=False),
    )
    op.create_index("ix_testimonies_tier_lat", "testimonies", ["tier", "miny", "minx"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgres_triggers()
    _fill()
    if dialect == "sqlite":
        op.execute("ANALYZE testimonies")
        op.execute("ANALYZE testimony_cells")


def _cell(dialect: str, v: str, origin: float) -> str:
    # the offset makes the value >= 0, where SQLite's CAST truncation is floor; the scale is
    # a power of two, so the product is exact and every backend (and Python) bins alike
    if dialect == "sqlite":
        return f"CAST(({v} + {origin}) * l.column2 AS INTEGER)"
    return f"CAST(floor(({v} + {origin}) * l.column2) AS INTEGER)"


def _fill() -> None:
    d = op.get_bind().dialect.name
    op.execute(f"""
        INSERT INTO testimony_cells ({_KEYS}, n, sx, sy)
        SELECT l.column1, t.tier, {_cell(d, 't.minx', 180.0)}, {_cell(d, 't.miny', 90.0)},
               count(*), sum(t.minx), sum(t.miny)
        FROM testimonies t CROSS JOIN (VALUES {_levels_sql()}) AS l
        WHERE t.minx IS NOT NULL
        GROUP BY 1, 2, 3, 4""")


def _sqlite_delta(row: str, sign: str) -> str:
    """Add (sign '+') or take away ('-') testimony `row` (NEW or OLD) at every level."""
    return f"""
      INSERT INTO testimony_cells ({_KEYS}, n, sx, sy)
        SELECT l.column1, {row}.tier, {_cell('sqlite', row + '.minx', 180.0)},
               {_cell('sqlite', row + '.miny', 90.0)}, {sign}1, {sign}{row}.minx, {sign}{row}.miny
        FROM (VALUES {_levels_sql()}) AS l WHERE {row}.minx IS NOT NULL
        ON CONFLICT ({_KEYS}) DO UPDATE SET
          n = n + excluded.n, sx = sx + excluded.sx, sy = sy + excluded.sy;"""


def _sqlite_prune(row: str) -> str:
    """Drop the cells `row` left empty."""
    return f"""
      DELETE FROM testimony_cells WHERE tier = {row}.tier AND n <= 0
        AND (level, cx, cy) IN (SELECT l.column1, {_cell('sqlite', row + '.minx', 180.0)},
                                       {_cell('sqlite', row + '.miny', 90.0)}
                                FROM (VALUES {_levels_sql()}) AS l);"""


def _sqlite_triggers() -> None:
    op.execute(f"""
        CREATE TRIGGER testimony_cells_ins AFTER INSERT ON testimonies
        WHEN new.minx IS NOT NULL BEGIN {_sqlite_delta('new', '+')}
        END""")
    op.execute(f"""
        CREATE TRIGGER testimony_cells_del AFTER DELETE ON testimonies
        WHEN old.minx IS NOT NULL BEGIN {_sqlite_delta('old', '-')} {_sqlite_prune('old')}
        END""")
    op.execute(f"""
        CREATE TRIGGER testimony_cells_upd AFTER UPDATE OF minx, miny, tier ON testimonies
        WHEN old.minx IS NOT new.minx OR old.miny IS NOT new.miny OR old.tier IS NOT new.tier
        BEGIN {_sqlite_delta('old', '-')} {_sqlite_prune('old')} {_sqlite_delta('new', '+')}
        END""")


def _pg_delta(row: str, sign: str) -> str:
    return f"""
        INSERT INTO testimony_cells AS c ({_KEYS}, n, sx, sy)
        SELECT l.column1, {row}.tier, {_cell('postgresql', row + '.minx', 180.0)},
               {_cell('postgresql', row + '.miny', 90.0)}, {sign}1, {sign}{row}.minx,
               {sign}{row}.miny
        FROM (VALUES {_levels_sql()}) AS l
        ON CONFLICT ({_KEYS}) DO UPDATE SET
          n = c.n + excluded.n, sx = c.sx + excluded.sx, sy = c.sy + excluded.sy;"""


def _postgres_triggers() -> None:
    # Row-level, like SQLite's: the store inserts a batch as one pipelined statement per row,
    # so a statement-level trigger would run (with its transition tables) once per row anyway
    # and cost 5x more. An UPDATE that moves nothing is skipped by the WHEN test, in C.
    prune = f"""
        DELETE FROM testimony_cells WHERE tier = OLD.tier AND n <= 0
          AND (level, cx, cy) IN (SELECT l.column1, {_cell('postgresql', 'OLD.minx', 180.0)},
                                         {_cell('postgresql', 'OLD.miny', 90.0)}
                                  FROM (VALUES {_levels_sql()}) AS l);"""
    op.execute(f"""
        CREATE FUNCTION testimony_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' THEN
            IF OLD.minx IS NOT NULL THEN {_pg_delta('OLD', '-')} {prune}
            END IF;
          END IF;
          IF TG_OP <> 'DELETE' THEN
            IF NEW.minx IS NOT NULL THEN {_pg_delta('NEW', '+')}
            END IF;
          END IF;
          RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER testimony_cells_ins AFTER INSERT ON testimonies FOR EACH ROW
        WHEN (NEW.minx IS NOT NULL) EXECUTE FUNCTION testimony_cells_apply()""")
    op.execute("""
        CREATE TRIGGER testimony_cells_del AFTER DELETE ON testimonies FOR EACH ROW
        WHEN (OLD.minx IS NOT NULL) EXECUTE FUNCTION testimony_cells_apply()""")
    op.execute("""
        CREATE TRIGGER testimony_cells_upd AFTER UPDATE OF minx, miny, tier ON testimonies
        FOR EACH ROW WHEN (OLD.minx IS DISTINCT FROM NEW.minx OR OLD.miny IS DISTINCT FROM
                           NEW.miny OR OLD.tier IS DISTINCT FROM NEW.tier)
        EXECUTE FUNCTION testimony_cells_apply()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for op_ in ("ins", "del", "upd"):
            op.execute(f"DROP TRIGGER IF EXISTS testimony_cells_{op_} ON testimonies")
        op.execute("DROP FUNCTION IF EXISTS testimony_cells_apply()")
    else:
        for op_ in ("ins", "del", "upd"):
            op.execute(f"DROP TRIGGER IF EXISTS testimony_cells_{op_}")
    op.drop_index("ix_testimonies_tier_lat", table_name="testimonies")
    op.drop_table("testimony_cells")
