"""The core behaviours on PostgreSQL + PostGIS (a throw-away cluster from tests/pg.py): the
schema, reference data, encrypted testimonies, bbox queries and the grid (the same answers as
SQLite for the same data), linking with decisions, the audit chain under concurrent writers,
signing in through the web app, and a CSV import. Skipped when the Debian packages are missing
(`make setup-test` installs them)."""

from __future__ import annotations

import math
import multiprocessing
import time
import traceback
from collections import Counter

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from shapely.geometry import Point
from sqlalchemy import select, text

from geomap import audit
from geomap import corroboration as corr
from geomap.config import load_settings
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.intake.run import import_testimonies
from geomap.keys import KeyRing
from geomap.model import Precision, Relationship, Testimony, Tier
from geomap.policy import SYSTEM
from geomap.store import Store, TestimonyFilter
from geomap.store.engine import head_revision
from geomap.store.links import LinkStore
from geomap.store.schema import include_object, metadata, testimonies

from .conftest import https_client, make_user, sign_in_with_forms
from .test_intake import row, write_csv

BBOXES = [(124.0, 37.5, 131.0, 43.1), (126.0, 39.0, 127.5, 40.5), (129.5, 41.5, 130.5, 42.5),
          (125.9, 39.6, 126.0, 39.8)]


@pytest.fixture
def pg_settings(tmp_path, pg_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    return load_settings(tmp_path / "instance", database_url=pg_url)


@pytest.fixture
def pg_store(pg_settings):
    s = Store.for_instance(pg_settings)
    assert s.dialect == "postgresql"
    yield s
    s.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory, pg_cluster):
    """The same reference data and 400 synthetic testimonies in SQLite and in PostgreSQL."""
    pg_cluster.psql("CREATE DATABASE geomap_both TEMPLATE geomap_template")
    stores = {}
    for name, url in (("sqlite", None), ("postgresql", pg_cluster.url("geomap_both"))):
        settings = load_settings(tmp_path_factory.mktemp(name) / "instance", database_url=url)
        s = Store.for_instance(settings)
        load_reference_data(s)
        load_synthetic_testimonies(s, 400, seed=11)
        stores[name] = s
    yield stores
    for s in stores.values():
        s.close()
    pg_cluster.psql("DROP DATABASE geomap_both WITH (FORCE)")


def _t(code: str, lon: float, lat: float, narrative: str = "[SYNTHETIC] a test narrative"):
    return Testimony(witness_code=code, place_text="somewhere", geometry=Point(lon, lat),
                     radius_m=200.0, precision=Precision.VICINITY, period=None,
                     relationship=Relationship.DETAINED, narrative=narrative,
                     tier=Tier.INTERNAL, synthetic=True)


# -- schema ------------------------------------------------------------------------------------
def test_migrations_reach_head_with_the_declared_schema_and_gist_indexes(pg_store):
    assert pg_store.schema_revision() == head_revision()
    with pg_store.writer.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": include_object}), metadata)
        assert diff == []
        gist = conn.execute(text(
            "SELECT tablename FROM pg_indexes WHERE indexname LIKE '%_bbox_gist' "
            "AND indexdef LIKE '%USING gist%'")).scalars().all()
        # testimonies (points) are compared through their btree point indexes (0020)
        assert sorted(gist) == ["boundary_units", "sites"]


def test_a_database_without_postgis_gets_it_or_says_who_must_add_it(pg_cluster, tmp_path):
    keys = KeyRing.load_or_create(tmp_path / "keys")
    pg_cluster.psql("CREATE DATABASE geomap_bare")  # template1: no PostGIS
    pg_cluster.psql("CREATE ROLE plain LOGIN")
    pg_cluster.psql("CREATE DATABASE geomap_plain OWNER plain")
    try:
        Store(pg_cluster.url("geomap_bare"), keys).close()  # a superuser's role adds it
        plain = pg_cluster.url("geomap_plain").replace("postgres@", "plain@")
        with pytest.raises(RuntimeError, match="CREATE EXTENSION postgis"):
            Store(plain, keys)
    finally:
        for sql in ("DROP DATABASE geomap_bare WITH (FORCE)",
                    "DROP DATABASE geomap_plain WITH (FORCE)", "DROP ROLE plain"):
            pg_cluster.psql(sql)


def test_a_viewport_query_on_testimonies_reads_the_point_index_not_the_table(pg_store):
    pg_store.add_testimonies([_t(f"SYN-G{i}", 124 + i / 100, 38 + i / 100) for i in range(300)])
    f = TestimonyFilter(bbox=(125.0, 38.5, 125.5, 39.0), with_geometry=True)
    q = select(testimonies.c.id).where(*pg_store._testimony_where(f, SYSTEM))
    with pg_store.writer.connect() as conn:
        conn.execute(text("ANALYZE testimonies"))
        conn.execute(text("SET enable_seqscan = off"))  # 300 rows: a scan would be cheaper
        plan = "\n".join(r[0] for r in conn.execute(
            text("EXPLAIN " + str(q.compile(conn, compile_kwargs={"literal_binds": True})))))
    assert "ix_testimonies_tier_point" in plan or "ix_testimonies_tier_lat" in plan, plan


def test_a_plain_postgresql_url_uses_psycopg_3(pg_url, tmp_path):
    s = Store(pg_url.replace("postgresql+psycopg://", "postgresql://"),
              KeyRing.load_or_create(tmp_path / "keys"))
    try:
        assert s.writer.dialect.driver == "psycopg" and s.schema_revision() == head_revision()
    finally:
        s.close()


def test_write_transactions_queue_on_one_lock_and_reads_do_not(pg_store):
    """The writer engine takes the advisory lock at BEGIN, as BEGIN IMMEDIATE does on SQLite."""
    from geomap.store.engine import PG_WRITE_LOCK

    def try_lock(conn):
        return conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                            {"k": PG_WRITE_LOCK}).scalar_one()
    with pg_store.write():
        with pg_store.reader.connect() as other, other.begin():
            assert try_lock(other) is False
    with pg_store.read():
        with pg_store.reader.connect() as other, other.begin():
            assert try_lock(other) is True
    with pg_store.write() as conn:  # a writer waits at most as long as on SQLite, then fails
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "30s"
        assert conn.execute(text("SHOW timezone")).scalar_one() == "UTC"


# -- the same answers as SQLite ----------------------------------------------------------------
def test_reference_data_and_testimonies_load_the_same(both):
    lite, pg = both["sqlite"], both["postgresql"]
    assert pg.count_testimonies() == lite.count_testimonies() == 400
    assert [s.key for s in pg.sites(SYSTEM)] == [s.key for s in lite.sites(SYSTEM)]
    assert len(pg.boundary_units(1)) == len(lite.boundary_units(1)) > 0


@pytest.mark.parametrize("bbox", BBOXES)
def test_bbox_queries_answer_as_on_sqlite(both, bbox):
    lite, pg = both["sqlite"], both["postgresql"]
    for table in ("boundary_units", "sites", "testimonies"):
        assert pg.ids_intersecting(table, bbox) == lite.ids_intersecting(table, bbox), table
    f = TestimonyFilter(bbox=bbox)
    assert pg.count_matching(f, SYSTEM) == lite.count_matching(f, SYSTEM)


@pytest.mark.parametrize("cell", [0.5, 0.7, 0.05])
def test_the_grid_matches_brute_force_binning_and_sqlite(both, cell):
    lite, pg = both["sqlite"], both["postgresql"]
    bbox = BBOXES[0]
    f = TestimonyFilter(bbox=bbox)
    pts = pg.testimony_points()
    size = 2.0 ** -round(-math.log2(cell))  # snapped to a power of two, aligned on the world
    expected = Counter((math.floor((g.x + 180) / size), math.floor((g.y + 90) / size))
                       for _, g in pts if g is not None and bbox[0] <= g.x <= bbox[2]
                       and bbox[1] <= g.y <= bbox[3])
    cells, total = pg.testimony_grid(f, SYSTEM, cell)
    assert sorted(c["count"] for c in cells) == sorted(expected.values())
    assert total == sum(expected.values())
    lite_cells, _ = lite.testimony_grid(f, SYSTEM, cell)

    def flat(cs):  # means of float sums: equal to rounding, not to the last bit
        return [v for c in sorted(cs, key=lambda c: (c["count"], round(c["lon"], 4),
                                                     round(c["lat"], 4)))
                for v in (c["count"], c["lon"], c["lat"])]
    assert flat(cells) == pytest.approx(flat(lite_cells), abs=1e-9)


# -- encrypted fields --------------------------------------------------------------------------
def test_witness_codes_and_narratives_are_encrypted_and_read_back(pg_store):
    pg_store.add_testimonies([_t("SYN-ENC-1", 127.0, 40.0, "[SYNTHETIC] only for the key")])
    with pg_store.read() as conn:
        raw = conn.execute(text("SELECT * FROM testimonies")).mappings().one()
    stored = b"".join(v for v in raw.values() if isinstance(v, bytes | memoryview))
    assert b"SYN-ENC-1" not in bytes(stored) and b"only for the key" not in bytes(stored)
    t = pg_store.testimony(raw["id"], SYSTEM)
    assert t["witness_code"] == "SYN-ENC-1" and t["narrative"] == "[SYNTHETIC] only for the key"


# -- linking -----------------------------------------------------------------------------------
def test_linking_run_and_decisions(pg_store):
    load_reference_data(pg_store)
    # 50 m east of Yodok's point with a 2 km radius
    yodok = next(s for s in pg_store.sites(SYSTEM) if "yodok" in s.key)
    pg_store.add_testimonies([_t("SYN-L1", yodok.geometry.centroid.x + 0.0006,
                                 yodok.geometry.centroid.y)])
    r = corr.run_linking(pg_store, None)
    assert r["proposed"] + r["ambiguous"] >= 1
    links = LinkStore(pg_store)
    [first, *_] = links.all()
    links.decide(first["testimony_id"], first["site_id"], "rejected", actor="researcher-1")
    corr.run_linking(pg_store, None)  # a person's decision survives a re-run
    after = {(x["testimony_id"], x["site_id"]): x for x in links.all()}
    kept = after[(first["testimony_id"], first["site_id"])]
    assert kept["status"] == "rejected" and kept["decided_by"] == "researcher-1"


# -- audit chain -------------------------------------------------------------------------------
def _writer(url: str, head: str, n: int, worker: int, errors) -> None:
    from pathlib import Path

    store = Store(url, KeyRing.load_or_create(Path(head).parent / "keys"), migrate=False,
                  audit_head=Path(head))
    try:
        for i in range(n):
            try:
                store.audit(f"writer-{worker}", "thing.edit", f"thing:{worker}:{i}")
            except Exception:
                errors.put(traceback.format_exc(limit=3))
    finally:
        store.close()


def test_concurrent_audited_writes_keep_one_chain(pg_store):
    writers, n = 6, 40
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    pg_store.close()  # no pooled connection crosses the fork
    procs = [ctx.Process(target=_writer, args=(pg_store.url, str(pg_store.audit_head), n, w,
                                                errors)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert [p.exitcode for p in procs] == [0] * writers
    assert failures == [], failures[0]
    with pg_store.read() as conn:
        count, problems = audit.verify(conn, pg_store.audit_head)
    assert problems == [] and count == writers * n


def test_the_audit_log_refuses_changes_and_tampering_is_named(pg_store):
    for i in range(3):
        pg_store.audit("tester", "thing.edit", f"thing:{i}")
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                "TRUNCATE audit_log"):
        with pytest.raises(Exception, match="append-only"), pg_store.write() as conn:
            conn.execute(text(sql))
    with pg_store.write() as conn:  # a superuser can switch the trigger off: verify notices
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = 2"))
    with pg_store.read() as conn:
        _, problems = audit.verify(conn, pg_store.audit_head)
    assert [p.entry_id for p in problems][:1] == [2]


# -- the web app -------------------------------------------------------------------------------
def test_sign_in_and_the_map_api_on_postgresql(pg_settings, pg_store):
    from geomap.web import create_app

    load_reference_data(pg_store)
    load_synthetic_testimonies(pg_store, 60, seed=5)
    app = create_app(pg_settings, pg_store)
    app.config["TESTING"] = True
    user, secret, _ = make_user(pg_store, "researcher")
    c = sign_in_with_forms(https_client(app), user.username, secret)  # the forms, on PostgreSQL
    doc = c.get("/api/testimonies?bbox=124,37.5,131,43.1").get_json(force=True)
    assert doc["numberMatched"] == pg_store.count_testimonies(with_geometry=True) > 0
    grid = c.get("/api/testimonies?bbox=124,37.5,131,43.1&limit=1&grid=0.5").get_json(force=True)
    assert grid["aggregated"] is True
    assert sum(f["properties"]["count"] for f in grid["features"]) == doc["numberMatched"]
    assert c.get("/api/sites").status_code == 200
    with pg_store.read() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log")).scalars().all()
    assert any("login" in a or "sign" in a for a in actions), actions


# -- import ------------------------------------------------------------------------------------
def test_a_csv_import_lands_and_reimporting_adds_nothing(pg_store, tmp_path):
    load_reference_data(pg_store)
    f = write_csv(tmp_path / "good.csv", [row(), row(witness_code="SYN-I2", lat="", lon="",
                                                     place="Camp 15"),
                                          row(witness_code="SYN-I3", lat="95")])
    t0 = time.perf_counter()
    report = import_testimonies(pg_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (2, 1)
    again = import_testimonies(pg_store, f, actor="test")
    assert again.inserted == 0 and time.perf_counter() - t0 < 30
    rows, _ = pg_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    r = next(x for x in rows if x["witness_code"] == "SYN-I1")
    assert (r["minx"], r["miny"], r["radius_m"]) == (126.895, 39.713, 500.0)
    assert r["violations"] == ["forced_labour", "torture"] and r["admin1_id"] is not None


# -- the command line --------------------------------------------------------------------------
def test_init_upgrade_and_audit_verify_from_the_command_line(pg_settings):
    from click.testing import CliRunner

    from geomap.cli import main

    inst = ["--instance", str(pg_settings.instance_path)]
    for args in (["init"], ["db", "upgrade"], ["audit", "verify"]):
        r = CliRunner().invoke(main, [*inst, *args], catch_exceptions=False)
        assert r.exit_code == 0, (args, r.output)
    s = Store.for_instance(pg_settings)
    try:
        assert s.dialect == "postgresql" and s.schema_revision() == head_revision()
        assert len(s.sites(SYSTEM)) > 0  # init loaded the shipped facility list
    finally:
        s.close()
