"""A map view's testimonies counted per grid cell, from precomputed cells where possible.

Cells sit on a global power-of-two ladder: at level L a cell is 2**-L degrees wide and holds
the points with (floor((lon + 180) * 2**L), floor((lat + 90) * 2**L)) = (cx, cy), so cells
stay put while the map pans and every backend (and Python) bins a point alike (the scale is
a power of two: the product is exact). A view's answer counts only the points inside its
bbox: the cells wholly inside come from `testimony_cells` (migration 0013's triggers keep it
per tier and level), the cells the bbox edge cuts are counted from the points themselves
through the (tier, minx, miny) and (tier, miny, minx) indexes, which read only thin strips.
With a violation or period filter, or a level finer than the ladder, every cell is counted
from the points (the same answer, slower).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Integer, func, literal_column, select, union_all

from .schema import testimonies, testimony_cells

if TYPE_CHECKING:
    from ..policy import Principal
    from . import BBox, Store, TestimonyFilter

# precomputed levels (a frozen copy is in migration 0013): a finer request is answered from
# the next finer precomputed level, so a view reads at most 4 stored cells per cell it shows
LEVELS = (-2, 0, 2, 4, 6, 8, 10)
MIN_LEVEL, MAX_LEVEL = -3, 14  # 8 degrees .. about 6 m: what the API's grid range snaps to
WORLD = (-180.0, -90.0, 180.0, 90.0)
_EPS = 1e-9  # widen strip ranges by this; the exact cell test decides


def snap_level(cell: float) -> int:
    """The ladder level whose cell size is nearest `cell` degrees (in log scale)."""
    return max(MIN_LEVEL, min(MAX_LEVEL, round(-math.log2(cell))))


def cell_size(level: int) -> float:
    return 2.0 ** -level


def cell_index(v: float, origin: float, level: int) -> int:
    """Python's binning, identical to the SQL's (exact power-of-two scale)."""
    return math.floor((v + origin) * 2.0 ** level)


def _cells_sql(store: Store, level: int) -> tuple[ColumnElement, ColumnElement]:
    from . import spatial_sqlite

    t = testimonies
    floor = store.spatial.floor_nonnegative if store.spatial else spatial_sqlite.floor_nonnegative
    scale = literal_column(repr(2.0 ** level))  # a float from the ladder, never input
    return (func.cast(floor((t.c.minx + 180.0) * scale), Integer),
            func.cast(floor((t.c.miny + 90.0) * scale), Integer))


def _from_points(store: Store, where: list, level: int, cell_where=None):
    """Cells counted from the points matching `where` (and `cell_where(cx, cy)`)."""
    t = testimonies
    cx, cy = _cells_sql(store, level)
    q = select(cx.label("cx"), cy.label("cy"), func.count().label("n"),
               func.sum(t.c.minx).label("sx"), func.sum(t.c.miny).label("sy")).where(*where)
    if cell_where is not None:
        q = q.where(*cell_where(cx, cy))
    return q.group_by(cx, cy)


def testimony_grid(store: Store, f: TestimonyFilter, viewer: Principal,
                   cell: float) -> tuple[list[dict], int, float]:
    """Non-empty cells of the level nearest `cell` in `f`'s bbox: (cells with count and mean
    position of the points counted, total, the cell size used)."""
    from dataclasses import replace

    level = snap_level(cell)
    bbox = f.bbox or WORLD
    f = replace(f, bbox=bbox)
    where = store._testimony_where(f, viewer)
    stored = next((lv for lv in LEVELS if lv >= level), None)
    ix0, ix1 = cell_index(bbox[0], 180.0, level), cell_index(bbox[2], 180.0, level)
    iy0, iy1 = cell_index(bbox[1], 90.0, level), cell_index(bbox[3], 90.0, level)
    # the stored cells know tier and position only: any other filter counts from the points
    unfiltered = replace(f, bbox=None) == type(f)()
    fast = stored is not None and unfiltered and ix1 - ix0 >= 2 and iy1 - iy0 >= 2
    if not fast:
        queries = [_from_points(store, where, level)]
    else:
        queries = _edge_queries(store, viewer, bbox, level, (ix0, ix1, iy0, iy1))
        queries.append(_inner_query(viewer, level, stored, (ix0, ix1, iy0, iy1)))
    with store.read() as conn:
        rows = conn.execute(union_all(*queries) if len(queries) > 1 else queries[0]).all()
    cells = [{"count": int(n), "lon": sx / n, "lat": sy / n} for _, _, n, sx, sy in rows if n > 0]
    return cells, sum(c["count"] for c in cells), cell_size(level)


def _edge_queries(store: Store, viewer: Principal, bbox: BBox, level: int,
                  ix: tuple[int, int, int, int]) -> list:
    """The cells the bbox edge cuts, counted from the points: four disjoint strips, each a
    narrow range on the first coordinate of one index (widened by _EPS; the cell test decides
    exactly). The other coordinate is compared as `col + 0`, which no index serves, so
    neither planner reads a thin strip through the wrong index (SQLite cannot tell a strip's
    range from the view's)."""
    t = testimonies
    ix0, ix1, iy0, iy1 = ix
    s = cell_size(level)
    bx0, by0, bx1, by1 = bbox
    x_lo, x_hi = ix0 + 1, ix1  # interior columns are x_lo .. x_hi - 1
    tiers = t.c.tier.in_([str(x) for x in viewer.tiers])

    def strip_x(x0: float, x1: float) -> list:
        return [tiers, t.c.minx >= x0, t.c.minx <= x1, t.c.miny + 0.0 >= by0,
                t.c.miny + 0.0 <= by1]

    def strip_y(y0: float, y1: float) -> list:
        return [tiers, t.c.miny >= y0, t.c.miny <= y1, t.c.minx + 0.0 >= bx0,
                t.c.minx + 0.0 <= bx1]

    return [
        _from_points(store, strip_x(bx0, min(bx1, (ix0 + 1) * s - 180.0 + _EPS)), level,
                     lambda cx, cy: [cx == ix0]),
        _from_points(store, strip_x(max(bx0, ix1 * s - 180.0 - _EPS), bx1), level,
                     lambda cx, cy: [cx == ix1]),
        _from_points(store, strip_y(by0, min(by1, (iy0 + 1) * s - 90.0 + _EPS)), level,
                     lambda cx, cy: [cy == iy0, cx >= x_lo, cx < x_hi]),
        _from_points(store, strip_y(max(by0, iy1 * s - 90.0 - _EPS), by1), level,
                     lambda cx, cy: [cy == iy1, cx >= x_lo, cx < x_hi]),
    ]


def _inner_query(viewer: Principal, level: int, stored: int, ix: tuple[int, int, int, int]):
    """The cells wholly inside the bbox, summed from the stored level's cells (per tier the
    viewer may see: a tier above theirs is never counted)."""
    c = testimony_cells.c
    ix0, ix1, iy0, iy1 = ix
    sh = stored - level  # a stored cell's parent at `level` is (cx >> sh, cy >> sh)
    gx, gy = (c.cx.op(">>")(literal_column(str(sh))), c.cy.op(">>")(literal_column(str(sh))))
    return (select(gx.label("cx"), gy.label("cy"), func.sum(c.n).label("n"),
                   func.sum(c.sx).label("sx"), func.sum(c.sy).label("sy"))
            .where(c.level == stored, c.tier.in_([str(x) for x in viewer.tiers]),
                   c.cx >= (ix0 + 1) << sh, c.cx < ix1 << sh,
                   c.cy >= (iy0 + 1) << sh, c.cy < iy1 << sh)
            .group_by(gx, gy))


def count_at_most(store: Store, f: TestimonyFilter, viewer: Principal, at_most: int) -> int:
    """How many testimonies match, counting no further than `at_most` (reads at most that
    many index entries: enough to choose between points and a grid)."""
    inner = select(testimonies.c.id).where(*store._testimony_where(f, viewer)).limit(at_most)
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(inner.subquery())).scalar_one()
