"""Spatial SQL on SQLite: bbox candidates from the R*Tree tables migration 0001 keeps in step
with the area tables by triggers. Testimonies (points) have none since 0018: their bbox is the
point, compared through the covering (tier, minx, miny) and (tier, miny, minx) indexes."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, Table, and_, func, select, text

RTREE_TABLES = frozenset({"boundary_units", "sites"})


def bbox_candidates(table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement:
    """Rows of `table` whose bbox may intersect `bbox` (R*Tree rounds outwards: a superset;
    the bbox columns compared directly for a table without one)."""
    minx, miny, maxx, maxy = bbox
    if table.name not in RTREE_TABLES:
        return and_(table.c.minx <= maxx, table.c.maxx >= minx,
                    table.c.miny <= maxy, table.c.maxy >= miny)
    return table.c.id.in_(
        select(text("id")).select_from(text(f"{table.name}_rtree")).where(
            text("minx <= :qmaxx AND maxx >= :qminx AND miny <= :qmaxy AND maxy >= :qminy")
        ).params(qminx=minx, qminy=miny, qmaxx=maxx, qmaxy=maxy)
    )


def floor_nonnegative(expr: ColumnElement) -> ColumnElement:
    """floor() of an expression known to be >= 0 (SQLite's floor() needs the math extension;
    CAST truncates toward zero, which is floor for non-negative numbers)."""
    return func.cast(expr, Integer)
