"""Spatial SQL on SQLite: bbox candidates from the R*Tree tables migration 0001 keeps in step
with each spatial table by triggers."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, Table, func, select, text


def bbox_candidates(table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement:
    """Rows of `table` whose bbox may intersect `bbox` (R*Tree rounds outwards: a superset)."""
    minx, miny, maxx, maxy = bbox
    return table.c.id.in_(
        select(text("id")).select_from(text(f"{table.name}_rtree")).where(
            text("minx <= :qmaxx AND maxx >= :qminx AND miny <= :qmaxy AND maxy >= :qminy")
        ).params(qminx=minx, qminy=miny, qmaxx=maxx, qmaxy=maxy)
    )


def floor_nonnegative(expr: ColumnElement) -> ColumnElement:
    """floor() of an expression known to be >= 0 (SQLite's floor() needs the math extension;
    CAST truncates toward zero, which is floor for non-negative numbers)."""
    return func.cast(expr, Integer)
