"""Spatial SQL on PostgreSQL + PostGIS: bbox candidates through the GiST index migration 0001
creates on each area table's bbox envelope (ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)).
The query repeats the indexed expression exactly so the planner can use the index.
Testimonies (points) have none since 0020: their bbox is the point, compared through the
covering (tier, minx, miny) and (tier, miny, minx) indexes, as on SQLite."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, func, literal

GIST_TABLES = frozenset({"boundary_units", "sites"})


def envelope(table: Table) -> ColumnElement:
    c = table.c
    return func.ST_MakeEnvelope(c.minx, c.miny, c.maxx, c.maxy, literal(4326, literal_execute=True))


def bbox_candidates(table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement:
    """Rows of `table` whose bbox intersects `bbox` (&&: bounding boxes, through GiST; the
    bbox columns compared directly for a table without one)."""
    minx, miny, maxx, maxy = bbox
    if table.name not in GIST_TABLES:
        return and_(table.c.minx <= maxx, table.c.maxx >= minx,
                    table.c.miny <= maxy, table.c.maxy >= miny)
    return envelope(table).op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))


def floor_nonnegative(expr: ColumnElement) -> ColumnElement:
    """floor() (PostgreSQL's CAST to integer rounds to nearest, so it cannot stand in)."""
    return func.floor(expr)
