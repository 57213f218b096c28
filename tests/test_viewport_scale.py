"""The precomputed viewport grid (migration 0013, geomap.store.viewport) answers exactly what
counting the points one by one answers: per cell, per tier, after every kind of write, with and
without filters. Correctness only; bench/run.py measures the speed. Runs on SQLite and, with
GEOMAP_TEST_BACKEND=postgis, on PostgreSQL + PostGIS (the `store` fixture)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from shapely.geometry import Point
from sqlalchemy import delete, select, update

from geomap import features
from geomap.model import Precision, Relationship, Testimony, Tier, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM, Principal, Role
from geomap.store import TestimonyFilter
from geomap.store.schema import testimonies, testimony_cells
from geomap.store.viewport import LEVELS, cell_index, cell_size, snap_level

VIEWER = Principal(2, "partner-reader", Role.VIEWER)  # partner and public tiers only
VIOLATIONS = [Violation.FORCED_LABOUR, Violation.TORTURE, Violation.ARBITRARY_DETENTION]


def _testimonies(n: int, seed: int) -> list[Testimony]:
    """Points clustered around a few synthetic centres (dense cells, empty ones, edges), some
    on exact cell boundaries, some unlocated; all three tiers."""
    rng = random.Random(seed)
    centres = [(126.9, 39.7), (129.2, 41.8), (125.6, 38.9), (127.5, 40.2)]
    out = []
    for i in range(n):
        cx, cy = rng.choice(centres)
        if i % 10 == 0:  # on a boundary of every level's cells
            x, y = cx // 0.25 * 0.25, cy // 0.25 * 0.25
        else:
            x, y = round(rng.gauss(cx, 0.4), 6), round(rng.gauss(cy, 0.3), 6)
        out.append(Testimony(
            witness_code=f"SYN-V{seed}-{i:05d}", place_text=f"synthetic place {i}",
            geometry=None if i % 25 == 0 else Point(x, y), radius_m=500.0,
            precision=Precision.VICINITY, period=parse_period(rng.choice(["1995", "2005-2010"])),
            violations=[rng.choice(VIOLATIONS)], relationship=Relationship.DETAINED,
            tier=rng.choice(list(Tier)), synthetic=True))
    return out


def _points(store) -> list[tuple[int, float, float, str]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(select(
            testimonies.c.id, testimonies.c.minx, testimonies.c.miny, testimonies.c.tier)
            .where(testimonies.c.minx.is_not(None)))]


def _brute_grid(points, bbox, level, tiers) -> Counter:
    tiers = {str(t) for t in tiers}
    return Counter((cell_index(x, 180.0, level), cell_index(y, 90.0, level))
                   for _, x, y, tier in points
                   if tier in tiers and bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3])


def _grid(store, bbox, level, viewer, **filters) -> Counter:
    cells, total = store.testimony_grid(TestimonyFilter(bbox=bbox, **filters), viewer,
                                        cell_size(level))
    out = Counter()
    for c in cells:  # the mean position lies in its cell: that names the cell
        key = (cell_index(c["lon"], 180.0, level), cell_index(c["lat"], 90.0, level))
        assert key not in out
        out[key] = c["count"]
    assert total == sum(out.values())
    return out


def _assert_cells_consistent(store) -> None:
    """The stored cells equal a recount of the table, at every level, per tier."""
    pts = _points(store)
    expected = {}
    for lv in LEVELS:
        for key, n in Counter((lv, tier, cell_index(x, 180.0, lv), cell_index(y, 90.0, lv))
                              for _, x, y, tier in pts).items():
            expected[key] = n
    with store.read() as conn:
        stored = {(r.level, r.tier, r.cx, r.cy): r.n for r in conn.execute(select(testimony_cells))}
    assert stored == expected


@pytest.fixture
def filled(store):
    store.add_testimonies(_testimonies(1500, seed=3))
    return store


def _random_views(rng: random.Random, k: int):
    for _ in range(k):
        level = rng.choice(range(-3, 12))
        w = cell_size(level) * rng.uniform(2.5, 25)  # a few to a few dozen cells across
        h = w * rng.uniform(0.5, 1.0)
        x0, y0 = rng.uniform(124.0, 130.0), rng.uniform(37.5, 42.5)
        yield (round(x0, 5), round(y0, 5), round(x0 + w, 5), round(y0 + h, 5)), level


def test_grid_counts_equal_a_brute_force_count_per_cell(filled):
    store = filled
    _assert_cells_consistent(store)
    pts = _points(store)
    rng = random.Random(11)
    for bbox, level in _random_views(rng, 40):
        for viewer in (SYSTEM, VIEWER):
            assert _grid(store, bbox, level, viewer) == \
                _brute_grid(pts, bbox, level, viewer.tiers), (bbox, level, viewer.role)


def test_a_view_whose_edges_lie_on_cell_boundaries_counts_each_point_once(filled):
    store, pts = filled, _points(filled)
    for level in (0, 2, 4):
        s = cell_size(level)
        bbox = (126.0, 39.0, 126.0 + 8 * s, 39.0 + 6 * s)
        assert _grid(store, bbox, level, SYSTEM) == _brute_grid(pts, bbox, level, tuple(Tier))


def test_a_viewer_never_counts_a_tier_above_theirs(filled):
    store, pts = filled, _points(filled)
    bbox = (124.0, 37.5, 131.0, 43.1)
    for level in (0, 2, 4):
        partner = _grid(store, bbox, level, VIEWER)
        assert partner == _brute_grid(pts, bbox, level, (Tier.PARTNER, Tier.PUBLIC))
        internal = sum(1 for _, x, y, t in pts if t == "internal")
        assert sum(_grid(store, bbox, level, SYSTEM).values()) - sum(partner.values()) == internal


def test_filters_count_from_the_points_and_stay_exact(filled):
    store = filled
    bbox = (124.0, 37.5, 131.0, 43.1)
    with store.read() as conn:
        rows = conn.execute(select(testimonies.c.id, testimonies.c.minx, testimonies.c.miny,
                                   testimonies.c.tier, testimonies.c.violations,
                                   testimonies.c.period_text)
                            .where(testimonies.c.minx.is_not(None))).all()
    torture = [(i, x, y, t) for i, x, y, t, v, _ in rows if "torture" in v.split(",")]
    assert _grid(store, bbox, 2, SYSTEM, violations=(Violation.TORTURE,)) == \
        _brute_grid(torture, bbox, 2, tuple(Tier))
    nineties = [(i, x, y, t) for i, x, y, t, _, p in rows if p == "1995"]
    assert _grid(store, bbox, 2, VIEWER, period=parse_period("1990-1999")) == \
        _brute_grid(nineties, bbox, 2, (Tier.PARTNER, Tier.PUBLIC))


def test_levels_finer_than_the_stored_ladder_count_from_the_points(filled):
    store, pts = filled, _points(filled)
    bbox = (126.85, 39.65, 126.95, 39.75)
    level = snap_level(0.0002)
    assert level > max(LEVELS)
    assert _grid(store, bbox, level, SYSTEM) == _brute_grid(pts, bbox, level, tuple(Tier))


def test_imports_edits_moves_tier_changes_and_deletes_keep_the_cells_right(filled):
    from geomap.testimony_edit import update_testimony

    store = filled
    store.add_testimonies(_testimonies(200, seed=4))  # a second import
    _assert_cells_consistent(store)
    ids = [i for i, *_ in _points(store)]
    # an edit through the application: move one, change another's tier, unlocate a third
    update_testimony(store, ids[0], {"lon": "128.123456", "lat": "40.654321"}, "tester")
    update_testimony(store, ids[1], {"tier": "public"}, "tester")
    update_testimony(store, ids[2], {"lon": "", "lat": ""}, "tester")
    _assert_cells_consistent(store)
    # and any SQL write, in bulk: the triggers see every statement
    with store.write() as conn:
        conn.execute(update(testimonies).where(testimonies.c.id.in_(ids[3:60]))
                     .values(minx=testimonies.c.minx + 0.3, maxx=testimonies.c.maxx + 0.3))
        conn.execute(update(testimonies).where(testimonies.c.id.in_(ids[60:90]))
                     .values(tier="internal"))
        conn.execute(update(testimonies).where(testimonies.c.id.in_(ids[90:100]))
                     .values(place_text="renamed"))  # not a position: cells unchanged
        conn.execute(delete(testimonies).where(testimonies.c.id.in_(ids[100:400])))
    _assert_cells_consistent(store)
    pts = _points(store)
    for bbox, level in _random_views(random.Random(5), 15):
        assert _grid(store, bbox, level, VIEWER) == \
            _brute_grid(pts, bbox, level, VIEWER.tiers)
    with store.write() as conn:  # everything gone: no cell left behind
        conn.execute(delete(testimonies))
    with store.read() as conn:
        assert conn.execute(select(testimony_cells)).first() is None


def test_the_view_document_is_points_up_to_the_limit_and_exact_cells_over_it(filled):
    store, pts = filled, _points(filled)
    bbox = (126.0, 39.0, 128.0, 40.6)
    inside = sum(1 for _, x, y, _t in pts if bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3])
    f = TestimonyFilter(bbox=bbox)
    doc = features.testimonies_in_view(store, SYSTEM, f, limit=inside, grid=0.1)
    assert doc["aggregated"] is False and doc["numberReturned"] == doc["numberMatched"] == inside
    doc = features.testimonies_in_view(store, SYSTEM, f, limit=inside - 1, grid=0.1)
    assert doc["aggregated"] is True and doc["numberMatched"] == inside
    assert doc["cell"] == 0.125 == 2.0 ** -snap_level(0.1)
    for feat in doc["features"]:  # every cell's position is inside the view
        lon, lat = feat["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
        assert set(feat["properties"]) == {"count"}
    assert store.count_matching(f, SYSTEM, at_most=10) == 10
    assert store.count_matching(f, SYSTEM, at_most=inside + 5) == inside


def test_snapping_picks_the_nearest_power_of_two():
    assert [snap_level(c) for c in (8, 5.7, 1.0, 0.7, 0.35, 0.0001)] == [-3, -3, 0, 1, 2, 13]
    assert math.isclose(cell_size(snap_level(0.3)), 0.25)
