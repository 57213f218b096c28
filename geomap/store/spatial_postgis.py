"""Spatial SQL on PostgreSQL + PostGIS: bbox candidates through the GiST index migration 0001
creates on each spatial table's bbox envelope (ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)).
The query repeats the indexed expression exactly so the planner can use the index."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, func, literal


def envelope(table: Table) -> ColumnElement:
    c = table.c
    return func.ST_MakeEnvelope(c.minx, c.miny, c.maxx, c.maxy, literal(4326, literal_execute=True))


def bbox_candidates(table: Table, bbox: tuple[float, float, float, float]) -> ColumnElement:
    """Rows of `table` whose bbox intersects `bbox` (&&: bounding boxes, through GiST)."""
    minx, miny, maxx, maxy = bbox
    return envelope(table).op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))


def floor_nonnegative(expr: ColumnElement) -> ColumnElement:
    """floor() (PostgreSQL's CAST to integer rounds to nearest, so it cannot stand in)."""
    return func.floor(expr)
