"""Viewport queries over testimonies read the covering (tier, minx, miny) index on SQLite
(migration 0012): a country-wide count or grid never walks the table's wide rows."""

import pytest
from sqlalchemy import func, select

from geomap.policy import Principal, Role
from geomap.store import TestimonyFilter
from geomap.store.schema import testimonies

pytestmark = pytest.mark.sqlite_only(reason="SQLite query plan of the covering index (PostGIS: tests/test_postgis_backend.py)")


def test_a_viewport_count_is_answered_from_the_covering_index(demo_instance):
    _, store = demo_instance
    viewer = Principal(1, "r", Role.RESEARCHER)
    f = TestimonyFilter(bbox=(124.0, 37.5, 131.0, 43.1))
    q = select(func.count()).select_from(testimonies).where(*store._testimony_where(f, viewer))
    sql = str(q.compile(store.reader, compile_kwargs={"literal_binds": True}))
    with store.read() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "COVERING INDEX ix_testimonies_tier_" in plan, plan  # point (0012) or lat (0013)
    # and the answer is the same as counting the points in Python
    rows, total = store.testimony_rows(f, viewer, limit=100_000)
    assert store.count_matching(f, viewer) == total
