import sqlite3

import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from geomap.keys import KeyRing
from geomap.model import BoundaryUnit, Precision, Relationship, Testimony, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.store import Store, TestimonyFilter
from geomap.store.engine import head_revision
from geomap.store.schema import include_object, metadata


def _testimony(i: int, x: float, y: float, **kw) -> Testimony:
    values = dict(
        witness_code=f"SYN-T{i:04d}", place_text=f"place {i}", geometry=Point(x, y),
        radius_m=100.0, precision=Precision.VICINITY, period=parse_period("1997"),
        violations=[Violation.FORCED_LABOUR], relationship=Relationship.DETAINED, synthetic=True,
    )
    values.update(kw)
    return Testimony(**values)


@pytest.mark.sqlite_only(reason="SQLite pragmas (WAL, synchronous)")
def test_sqlite_runs_in_wal_with_full_sync(store, settings):
    with store.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (settings.instance_path / "geomap.sqlite3").is_file()


@pytest.mark.sqlite_only(reason="BEGIN IMMEDIATE (PostgreSQL: advisory lock, test_postgis_backend)")
def test_write_transactions_take_the_write_lock_at_begin(store, settings):
    """BEGIN IMMEDIATE: a second writer cannot start while the first holds the lock."""
    other = sqlite3.connect(settings.instance_path / "geomap.sqlite3", timeout=0,
                            isolation_level=None)
    with store.write():
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_migrations_produce_exactly_the_declared_schema(store):
    assert store.schema_revision() == head_revision()
    with store.writer.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": include_object}), metadata)
    assert diff == []


def test_reopening_upgrades_in_place_and_keeps_data(settings):
    s1 = Store.for_instance(settings)
    s1.add_testimonies([_testimony(1, 127.0, 40.0)])
    s1.close()
    s2 = Store.for_instance(settings)  # runs migrations again: a no-op at head
    assert s2.count_testimonies() == 1
    s2.close()


def test_adding_the_same_testimonies_twice_stores_them_once(store):
    items = [_testimony(i, 127.0 + i / 100, 40.0) for i in range(5)]
    first = store.add_testimonies(items)
    again = store.add_testimonies([_testimony(i, 127.0 + i / 100, 40.0) for i in range(5)])
    assert (first.inserted, again.inserted, again.skipped) == (5, 0, 5)
    assert store.count_testimonies() == 5


def test_a_failed_batch_leaves_nothing_behind(store):
    store.add_testimonies([_testimony(1, 127.0, 40.0)])
    with pytest.raises(RuntimeError):
        with store.write() as conn:
            store.add_testimonies([_testimony(2, 127.1, 40.0)], conn=conn)
            raise RuntimeError("crash mid-batch")
    assert store.count_testimonies() == 1


@pytest.mark.sqlite_only(reason="the R*Tree table (PostGIS: GiST index)")
def test_the_rtree_follows_inserts_updates_and_deletes(store):
    [u] = [BoundaryUnit(1, "A", "A", None, box(0, 0, 1, 1))]
    store.upsert_boundary_units([u])
    assert store.ids_intersecting("boundary_units", (0.5, 0.5, 0.6, 0.6)) == [u.id]
    u.geometry = box(10, 10, 11, 11)
    store.upsert_boundary_units([u])
    assert store.ids_intersecting("boundary_units", (0.5, 0.5, 0.6, 0.6)) == []
    assert store.ids_intersecting("boundary_units", (10.5, 10.5, 10.6, 10.6)) == [u.id]
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM boundary_units")
        assert conn.exec_driver_sql("SELECT count(*) FROM boundary_units_rtree").scalar() == 0


coord = st.floats(min_value=124.0, max_value=131.0, allow_nan=False)
lat = st.floats(min_value=37.5, max_value=43.0, allow_nan=False)
size = st.floats(min_value=0.0, max_value=0.8, allow_nan=False)


@st.composite
def bboxes(draw):
    x, y = draw(coord), draw(lat)
    return (x, y, x + draw(size), y + draw(size))


@st.composite
def shapes(draw):
    x, y = draw(coord), draw(lat)
    kind = draw(st.sampled_from(["point", "box", "triangle"]))
    if kind == "point":
        return Point(x, y)
    w, h = draw(size) + 1e-4, draw(size) + 1e-4
    if kind == "box":
        return box(x, y, x + w, y + h)
    return shapely.Polygon([(x, y), (x + w, y), (x, y + h)])  # bbox corner outside the shape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geoms=st.lists(shapes(), min_size=1, max_size=40), query=bboxes())
def test_bbox_query_matches_a_brute_force_shapely_filter(tmp_path_factory, geoms, query):
    d = tmp_path_factory.mktemp('bbox')
    store = Store(f"sqlite:///{d / 'g.sqlite3'}", KeyRing.load_or_create(d / "keys"))
    units = [BoundaryUnit(1, f"u{i}", f"u{i}", None, g.buffer(0) if g.geom_type != "Point"
                          else g.buffer(1e-5)) for i, g in enumerate(geoms)]
    store.upsert_boundary_units(units)
    points = [_testimony(i, g.centroid.x, g.centroid.y) for i, g in enumerate(geoms)]
    store.add_testimonies(points)
    q = box(*query)
    expected_units = sorted(u.id for u in units if u.geometry.intersects(q))
    expected_points = sorted(t.id for t in points if t.geometry.intersects(q))
    assert store.ids_intersecting("boundary_units", query) == expected_units
    assert store.ids_intersecting("testimonies", query) == expected_points
    rows, total = store.testimony_rows(TestimonyFilter(bbox=query), SYSTEM)
    assert sorted(r["id"] for r in rows) == expected_points == sorted(
        t.id for t in points if t.geometry.intersects(q))
    assert total == len(expected_points)
    store.close()


def test_testimony_filters_by_violation_and_period(store):
    store.add_testimonies([
        _testimony(1, 127.0, 40.0, violations=[Violation.TORTURE], period=parse_period("1995")),
        _testimony(2, 127.0, 40.0, violations=[Violation.FORCED_LABOUR],
                   period=parse_period("before 2000")),
        _testimony(3, 127.0, 40.0, violations=[Violation.TORTURE, Violation.EXECUTION],
                   period=parse_period("2005-2008")),
        _testimony(4, 127.0, 40.0, period=None),
    ])

    def codes(f):
        return [r["witness_code"] for r in store.testimony_rows(f, SYSTEM)[0]]

    assert codes(TestimonyFilter(violations=(Violation.TORTURE,))) == ["SYN-T0001", "SYN-T0003"]
    assert codes(TestimonyFilter(period=parse_period("1996-2006"))) == ["SYN-T0002", "SYN-T0003"]
    assert codes(TestimonyFilter(period=parse_period("1990s"),
                                 violations=(Violation.FORCED_LABOUR,))) == ["SYN-T0002"]
    rows, total = store.testimony_rows(TestimonyFilter(), SYSTEM, limit=2)
    assert (len(rows), total) == (2, 4)
    assert rows[0]["violations"] == ["torture"]


def test_narratives_never_leave_through_map_rows(store):
    store.add_testimonies([_testimony(1, 127.0, 40.0, narrative="SECRET-NARRATIVE")])
    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM)
    assert "narrative" not in rows[0]
    assert "SECRET-NARRATIVE" not in repr(rows)


@pytest.mark.empty_database
def test_upgrading_a_0001_database_backfills_violation_codes(settings):
    from sqlalchemy import create_engine

    from geomap.store import engine as store_engine

    engine = create_engine(settings.database_url)
    store_engine.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO testimonies (id, key, witness_code, tier, synthetic, admin1_outside) "
            "VALUES (1, 'k1', 'SYN-W1', 'internal', TRUE, FALSE)")
        conn.exec_driver_sql("INSERT INTO testimony_violations VALUES (1, 'torture'), "
                             "(1, 'forced_labour')")
    engine.dispose()
    store = Store.for_instance(settings)  # upgrades to head in place
    assert store.schema_revision() == head_revision()
    [row], _ = store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert row["violations"] == ["forced_labour", "torture"]
    store.close()


@pytest.mark.sqlite_only(reason="SQLite's R*Tree of testimonies (PostgreSQL's GiST: tests/test_postgis_backend.py)")
@pytest.mark.empty_database
def test_upgrading_drops_the_testimonies_rtree_nothing_read_and_bbox_queries_still_answer(
        settings):
    from sqlalchemy import create_engine

    from geomap.store import engine as store_engine

    engine = create_engine(settings.database_url)
    store_engine.upgrade(engine, "0017")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO testimonies (id, key, tier, synthetic, admin1_outside, geom, minx, miny, "
            "maxx, maxy) VALUES (1, 'k1', 'internal', 1, 0, ?, 126.9, 39.7, 126.9, 39.7)",
            (shapely.to_wkb(Point(126.9, 39.7)),))
        assert conn.exec_driver_sql("SELECT count(*) FROM testimonies_rtree").scalar() == 1
    engine.dispose()
    store = Store.for_instance(settings)  # upgrades to head in place
    with store.read() as conn:
        left = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE name LIKE 'testimonies_rtree%'").all()
    assert left == []
    assert store.ids_intersecting("testimonies", (126.8, 39.6, 127.0, 39.8)) == [1]
    assert store.ids_intersecting("testimonies", (127.0, 39.6, 127.1, 39.8)) == []
    with store.write() as conn:  # moving and deleting need no R*Tree either
        conn.exec_driver_sql("UPDATE testimonies SET geom = ?, minx = 127.05, maxx = 127.05 "
                             "WHERE id = 1", (shapely.to_wkb(Point(127.05, 39.7)),))
    assert store.ids_intersecting("testimonies", (127.0, 39.6, 127.1, 39.8)) == [1]
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM testimonies")
    assert store.ids_intersecting("testimonies", (127.0, 39.6, 127.1, 39.8)) == []
    store.close()
