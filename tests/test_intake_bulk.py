"""Issue 12 (import speed): the fast paths of an import store exactly what the slow ones did.

A large chunk does the viewport grid's per-row trigger work in one statement (SQLite: the
trigger dropped and re-created in the transaction; PostgreSQL: COPY, with the trigger switched
off for the transaction) and splits its violation rows from their column in SQL
(geomap.store.intake); a chunk is validated at once (Validator.check_many) and stored on a
second thread while the next is checked; encryption draws a chunk's nonces at once. Each test
compares a fast path with the plain one, or pins what a failure leaves."""

from __future__ import annotations

import csv
import json
import random
from datetime import date

import pytest
import shapely
from shapely.geometry import Point

from geomap.crypto import DecryptionError, FieldCipher
from geomap.intake.run import import_testimonies
from geomap.intake.validate import Validator, resolve_columns
from geomap.model import Relationship, Testimony, Tier, Violation
from geomap.periods import parse_period
from geomap.store import Store
from geomap.store import intake as sql

SITES = [(126.895, 39.713), (129.936, 42.538), (129.725, 41.834), (126.055, 39.571)]
HEADER = ["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
          "relationship", "narrative"]


def _testimonies(n: int, seed: int = 5) -> list[Testimony]:
    """Synthetic testimonies around a few sites (many grid cells), some with a place name
    only, one witness giving several."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lon, lat = rng.choice(SITES)
        located = i % 7 != 3
        out.append(Testimony(
            witness_code=f"SYN-BULK-{i // 3:05d}", place_text=rng.choice(["Yodok", "회령", None]),
            geometry=Point(round(lon + rng.uniform(-0.4, 0.4), 7),
                           round(lat + rng.uniform(-0.4, 0.4), 7)) if located else None,
            radius_m=rng.choice([50.0, 500.0, 2000.0]) if located else None, precision=None,
            period=parse_period(rng.choice(["1997", "spring 2004", "1998-2001"])),
            violations=sorted(rng.sample(list(Violation), rng.randint(0, 2))),
            relationship=rng.choice([Relationship.DETAINED, None]),
            interview_date=date(2010, 1, 1 + i % 28), narrative=f"[SYNTHETIC] bulk {i}",
            tier=rng.choice([Tier.INTERNAL, Tier.PUBLIC]), synthetic=True))
    return out


def _state(store: Store) -> dict:
    """Everything an insert writes, ciphertexts decrypted (their nonces differ)."""
    with store.read() as conn:
        q = conn.exec_driver_sql
        rows = q("SELECT * FROM testimonies ORDER BY id").mappings().all()
        dec = store.cipher.decrypt
        plain = [{k: v for k, v in r.items() if not k.endswith("_enc")} | {
            "witness": dec(r["witness_enc"], "testimonies", r["key"], "witness_code"),
            "narrative": dec(r["narrative_enc"], "testimonies", r["key"], "narrative")}
            for r in rows]
        return {
            "testimonies": plain,
            "violations": q("SELECT * FROM testimony_violations ORDER BY 1, 2").all(),
            "cells": q("SELECT level, tier, cx, cy, n, sx, sy FROM testimony_cells "
                       "ORDER BY 1, 2, 3, 4").all(),
            "triggers": q("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                          "AND tbl_name = 'testimonies' ORDER BY name").all(),
        }


@pytest.fixture
def twin(store, tmp_path):
    """A second SQLite store with the same keys (so content keys agree)."""
    other = Store(f"sqlite:///{tmp_path / 'twin.sqlite3'}", store.keys)
    yield other
    other.close()


@pytest.mark.sqlite_only(reason="the per-row triggers and their bulk equivalents are SQLite's")
def test_a_fresh_database_has_exactly_the_insert_triggers_the_bulk_path_knows(store):
    with store.write() as conn:
        assert set(sql._bypassed_triggers(conn)) == set(sql.BULK_TRIGGERS)


@pytest.mark.sqlite_only(reason="the per-row triggers and their bulk equivalents are SQLite's")
def test_a_bulk_batch_stores_what_the_per_row_triggers_store(store, twin, monkeypatch):
    items = _testimonies(1_500)
    assert len(items) >= sql.BULK_TRIGGER_ROWS
    bulk = store.add_testimonies(items[:1_200])
    more = store.add_testimonies(items[1_000:])  # 200 already there, 300 new: row by row
    monkeypatch.setattr(sql, "BULK_TRIGGER_ROWS", 10**9)
    plain = twin.add_testimonies(_testimonies(1_500)[:1_200])
    twin.add_testimonies(_testimonies(1_500)[1_000:])
    assert (bulk.inserted, more.inserted, more.skipped, plain.inserted) == (1_200, 300, 200, 1_200)
    a, b = _state(store), _state(twin)
    cells_a, cells_b = a.pop("cells"), b.pop("cells")
    assert a == b
    # the grid's cells: the same counts; sums of coordinates up to the order of additions
    assert [c[:5] for c in cells_a] == [c[:5] for c in cells_b]
    for x, y in zip(cells_a, cells_b, strict=True):
        assert x.sx == pytest.approx(y.sx, rel=1e-12) and x.sy == pytest.approx(y.sy, rel=1e-12)
    # a bbox query (the point indexes, exact test) finds the same testimonies
    bbox = (126.5, 39.4, 127.2, 40.0)
    found = store.ids_intersecting("testimonies", bbox)
    expect = [r["id"] for r in a["testimonies"] if r["minx"] is not None
              and bbox[0] <= r["minx"] <= bbox[2] and bbox[1] <= r["miny"] <= bbox[3]]
    assert sorted(found) == sorted(expect) == sorted(twin.ids_intersecting("testimonies", bbox))
    assert [t.id for t in items] == [r["id"] for r in a["testimonies"]]


@pytest.mark.sqlite_only(reason="SQLite's driver path")
def test_the_driver_insert_stores_what_a_sqlalchemy_insert_stores(store, twin):
    from geomap.store.schema import testimonies

    items = _testimonies(30)
    for t in items:
        t.key = store.cipher.blind_index(t.content_payload(), "testimony")
    rows = sql.testimony_rows(store.cipher, items)  # one set of ciphertexts for both
    with store.write() as conn:
        sql._insert_sqlite(conn, items, sql._bind(rows))
    with twin.write() as conn:
        conn.execute(testimonies.insert(), [{"id": i, **dict(zip(sql._COLUMNS, r, strict=True))}
                                            for i, r in enumerate(rows, start=1)])
    cols = ", ".join(f'typeof("{c}"), "{c}"' for c in ("id", *sql._COLUMNS, "geocode_note"))

    def stored(s):
        with s.read() as conn:
            return conn.exec_driver_sql(f"SELECT {cols} FROM testimonies ORDER BY id").all()  # noqa: S608

    assert stored(store) == stored(twin)
    assert {r[1] for r in stored(store)} == set(range(1, 31))


def _csv(path, n: int, seed: int = 9, prefix: str = "SYN-CSV") -> int:
    """A CSV of n rows (some bad, a few repeated); returns how many are valid and distinct."""
    rng = random.Random(seed)
    rows, good = [], set()
    for i in range(n):
        lon, lat = rng.choice(SITES)
        r = [f"{prefix}-{i // 2:05d}", "Yodok", f"{lat + rng.uniform(-.05, .05):.5f}",
             f"{lon + rng.uniform(-.05, .05):.5f}", "500", "sometime" if i % 10 == 5 else "1997",
             "torture", "detained", f"[SYNTHETIC] csv {i}"]
        if i % 50 == 7:
            r = rows[-1]  # a repeated row: quarantined as a duplicate
        rows.append(r)
        if r[5] != "sometime":
            good.add(tuple(r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return len(good)


def test_an_import_is_the_same_threaded_or_not_and_a_rerun_adds_nothing(ref_store, tmp_path):
    f = tmp_path / "t.csv"
    valid = _csv(f, 2_600)
    first = import_testimonies(ref_store, f, actor="test", batch_rows=1_200)
    assert first.inserted == valid == ref_store.count_testimonies()
    again = import_testimonies(ref_store, f, actor="test", batch_rows=1_200)
    assert (again.inserted, again.already_present) == (0, valid)
    assert again.quarantined == again.quarantined_before == first.quarantined > 0
    assert ref_store.count_testimonies() == valid
    # the same rows and problems, stored batch by batch on the calling thread
    g = tmp_path / "u.csv"
    g.write_bytes(f.read_bytes())
    other = Store(f"sqlite:///{tmp_path / 'plain.sqlite3'}", ref_store.keys) \
        if ref_store.dialect == "sqlite" else None
    if other is not None:
        from geomap.demo import load_reference_data

        load_reference_data(other)
        plain = import_testimonies(other, f, actor="test", batch_rows=1_200, threaded=False)
        assert (plain.inserted, plain.quarantined, plain.problems, plain.keys) == \
            (first.inserted, first.quarantined, first.problems, first.keys)
        a, b = _state(ref_store), _state(other)
        assert a["testimonies"] == b["testimonies"]
        # the grid's counts; coordinate sums up to the order of additions (chunks differ)
        assert [c[:5] for c in a["cells"]] == [c[:5] for c in b["cells"]]
        for x, y in zip(a["cells"], b["cells"], strict=True):
            assert x.sx == pytest.approx(y.sx, rel=1e-12) and x.sy == pytest.approx(y.sy, rel=1e-12)
        other.close()


@pytest.mark.sqlite_only(reason="a failure injected with an SQLite trigger")
def test_a_failure_mid_batch_keeps_earlier_batches_whole_and_the_triggers(ref_store, tmp_path):
    f = tmp_path / "t.csv"
    valid = _csv(f, 2_600)
    with ref_store.write() as conn:  # an insert in the second batch fails
        conn.exec_driver_sql(
            "CREATE TRIGGER boom BEFORE INSERT ON testimonies WHEN new.narrative_enc IS NOT NULL "
            "AND (SELECT count(*) FROM testimonies) >= 1500 BEGIN SELECT RAISE(ABORT, 'boom'); "
            "END")
    before = _state(ref_store)["triggers"]
    with pytest.raises(Exception, match="boom"):
        import_testimonies(ref_store, f, actor="test", batch_rows=1_200)
    s = _state(ref_store)
    assert s["triggers"] == before  # dropped and re-created inside the failed transaction
    stored = len(s["testimonies"])
    assert sql.BULK_TRIGGER_ROWS <= stored < 1_500  # whole batches (the first took the bulk path)
    assert sum(c.n for c in s["cells"] if c.level == 0) == stored
    with ref_store.write() as conn:
        conn.exec_driver_sql("DROP TRIGGER boom")
    rest = import_testimonies(ref_store, f, actor="test", batch_rows=1_200)
    assert (rest.inserted, rest.already_present) == (valid - stored, stored)
    s = _state(ref_store)
    assert len(s["testimonies"]) == valid
    assert sum(c.n for c in s["cells"] if c.level == 0) == valid


def test_a_batch_checked_at_once_gets_the_verdicts_of_rows_checked_alone(ref_store):
    units = ref_store.boundary_units(0)
    country = shapely.union_all([u.geometry for u in units])
    rows = [
        {"lat": "39.713", "lon": "126.895", "period": "1997"},
        {"lat": "39°42′46.8″N", "lon": "126.895", "violations": "torture; nonsense"},
        {"lat": "126.895", "lon": "39.713"},                     # swapped
        {"lat": "10.0", "lon": "10.0"},                          # far outside
        {"lat": "95", "lon": "126.9"},                           # out of range
        {"lat": "39.7", "lon": ""},                              # half a pair
        {"coordinates": "39.713, 126.895", "radius_m": "2 km"},
        {"geometry": "POINT (126.9 39.7)", "relationship": "saw directly"},
        {"lat": "abc", "lon": "126.9"},                          # unparseable
        {"place": "Yodok"},                                      # a name only
        {"witness_code": "", "place": ""},                       # nothing
        {"lat": "+39.713", "lon": "-0.0"},                       # signs read as before
    ]
    full = [{"witness_code": "SYN-V1", "place": "Yodok", "lat": "", "lon": "",
             "coordinates": "", "geometry": "", "radius_m": "", "period": "",
             "violations": "", "relationship": "", "narrative": "[SYNTHETIC] v"} | r
            for r in rows]
    v = Validator(country, resolve_columns(list(full[0]), None))
    together = v.check_many(list(enumerate(full, start=2)))
    alone = [v.check(n, r) for n, r in enumerate(full, start=2)]

    def verdict(c):
        t = c.testimony
        return ([p.as_dict() for p in c.problems], c.notes, None if t is None else (
            t.geometry.wkt if t.geometry is not None else None, t.radius_m, t.precision,
            t.violations, t.relationship, t.period))

    assert [verdict(c) for c in together] == [verdict(c) for c in alone]
    codes = [{p.code for p in c.problems} for c in together]
    assert codes[2] == {"likely_swap"} and codes[3] == {"far_outside"}
    assert codes[4] == {"out_of_range"} and codes[5] == {"missing"}
    assert together[0].testimony.geometry.equals(Point(126.895, 39.713))
    assert together[11].testimony is None and codes[11] == {"far_outside"}


def test_encrypting_many_values_is_the_same_scheme_with_fresh_nonces(store):
    c: FieldCipher = store.cipher
    values = ["SYN-1", None, "회령 증언", "SYN-1"]
    records = ["k1", "k2", "k3", "k4"]
    blobs = c.encrypt_many(values, "testimonies", records, "witness_code")
    assert blobs[1] is None
    assert [c.decrypt(b, "testimonies", r, "witness_code")
            for b, r in zip(blobs, records, strict=True)] == values
    nonces = [b[5:17] for b in blobs if b is not None]
    assert len(set(nonces)) == len(nonces)
    single = c.encrypt("SYN-1", "testimonies", "k1", "witness_code")
    assert single[:5] == blobs[0][:5] and len(single) == len(blobs[0])
    with pytest.raises(DecryptionError):  # bound to its record, as one value encrypted alone
        c.decrypt(blobs[0], "testimonies", "k4", "witness_code")


def test_linking_an_imports_testimonies_gives_the_links_linking_everything_gives(
        ref_store, tmp_path, monkeypatch):
    from geomap import geocode
    from geomap.corroboration import run_linking
    from geomap.gazetteer import Gazetteer
    from geomap.policy import SYSTEM
    from geomap.store.links import LinkStore

    def links():
        return sorted((r["testimony_id"], r["site_id"], r["status"], r["score"],
                       json.dumps(r["evidence"], sort_keys=True))
                      for r in LinkStore(ref_store).all())

    monkeypatch.setattr(geocode, "LINK_CHUNK", 250)  # an import's testimonies in parts
    first_keys: list[str] = []
    for name, seed in (("a.csv", 1), ("b.csv", 2)):
        _csv(tmp_path / name, 700, seed=seed, prefix=f"SYN-{name[0].upper()}")
        r = import_testimonies(ref_store, tmp_path / name, actor="test")
        _, counts = geocode.locate_and_link(ref_store, "test", keys=r.keys)
        assert counts["testimonies"] == r.inserted  # this import's testimonies only
        first_keys = first_keys if name == "b.csv" else r.keys
    by_import = links()
    assert len({t for t, *_ in by_import}) > 500
    run_linking(ref_store, Gazetteer.from_store(ref_store, SYSTEM))
    assert links() == by_import
    # linking an import's testimonies again replaces their candidates, keeps a decision
    t, site = by_import[0][:2]
    LinkStore(ref_store).decide(t, site, "confirmed", "test")
    geocode.locate_and_link(ref_store, "test", keys=[*r.keys, *first_keys])
    after = links()
    assert [x for x in after if x[:2] != (t, site)] == [x for x in by_import if x[:2] != (t, site)]
    assert [x[2] for x in after if x[:2] == (t, site)] == ["confirmed"]


def test_a_repeat_in_a_later_batch_names_the_row_it_repeats(ref_store, tmp_path):
    rows = [[f"SYN-DUP-{i}", "Yodok", "39.713", "126.895", "500", "1997", "torture",
             "detained", f"[SYNTHETIC] dup {i}"] for i in range(8)]
    rows.insert(6, rows[1])  # file row 8 repeats file row 3, two batches later
    f = tmp_path / "d.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    report = import_testimonies(ref_store, f, actor="test", batch_rows=3)
    assert (report.inserted, report.reasons["duplicate_row"]) == (8, 1)
    [p] = report.problems
    assert p["row"] == 8 and "duplicate of row 3" in p["problems"][0]["message"]
    assert len(report.keys) == 8 and len(set(report.keys)) == 8
    assert list(report.keys[2:4]) == [report.keys[2], report.keys[3]]


def test_large_and_small_inserts_store_the_same_violations_cells_and_file_order(store):
    """Both backends: a chunk big enough for the bulk path (COPY on PostgreSQL) and a small
    one (the per-row triggers) give each testimony its violation rows and grid cells, with
    ids in the order given."""
    from collections import Counter

    from geomap.store.schema import testimony_cells
    from geomap.store.viewport import LEVELS, cell_index

    big, small = _testimonies(1_300, seed=8), _testimonies(1_340, seed=8)[1_300:]
    assert store.add_testimonies(big).inserted == 1_300
    assert store.add_testimonies(small).inserted == 40
    items = big + small
    assert [t.id for t in items] == sorted(t.id for t in items)
    with store.read() as conn:
        viol = sorted(conn.exec_driver_sql(
            "SELECT testimony_id, violation FROM testimony_violations").all())
        cells = {(r.level, r.tier, r.cx, r.cy): r.n for r in conn.execute(
            testimony_cells.select())}
    assert viol == sorted((t.id, str(v)) for t in items for v in set(t.violations))
    located = [t for t in items if t.geometry is not None]
    expected = Counter((lv, str(t.tier), cell_index(t.geometry.x, 180.0, lv),
                        cell_index(t.geometry.y, 90.0, lv)) for t in located for lv in LEVELS)
    assert cells == dict(expected)


def _assert_cells_recount(store: Store) -> None:
    """The grid cells equal a recount of the stored testimonies, at every level and tier."""
    from collections import Counter

    from geomap.store.schema import testimony_cells
    from geomap.store.viewport import LEVELS, cell_index

    with store.read() as conn:
        pts = conn.exec_driver_sql(
            "SELECT tier, minx, miny FROM testimonies WHERE minx IS NOT NULL").all()
        cells = {(r.level, r.tier, r.cx, r.cy): r.n
                 for r in conn.execute(testimony_cells.select())}
    assert pts and cells == dict(Counter(
        (lv, tier, cell_index(x, 180.0, lv), cell_index(y, 90.0, lv))
        for tier, x, y in pts for lv in LEVELS))


def test_stored_rows_after_a_chunk_of_new_ones_are_still_stored_once(ref_store, tmp_path):
    """A chunk with nothing stored before makes the import stop asking which rows are stored
    (a re-run finds its stored rows first); rows stored before further down the file are
    then prepared again but skipped by their batch's transaction, counted as present."""
    whole = tmp_path / "whole.csv"
    valid = _csv(whole, 4_000)
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    tail = tmp_path / "tail.csv"  # the second half of the same file, imported first
    tail.write_text(lines[0] + "".join(lines[2_001:]), encoding="utf-8")
    first = import_testimonies(ref_store, tail, actor="test")
    again = import_testimonies(ref_store, whole, actor="test", batch_rows=1_500)
    assert again.inserted + again.already_present == valid
    assert again.already_present == first.inserted
    assert ref_store.count_testimonies() == valid
    _assert_cells_recount(ref_store)  # each batch added its rows' cells once, before commit


def test_a_chunk_holding_keys_stored_meanwhile_stores_only_the_new_ones(store):
    """Between an import's look-up and its transaction another import may store some of the
    same rows: the chunk then stores the others once (PostgreSQL: its COPY is refused by the
    unique key and undone to a savepoint, then the checked path runs), cells included."""
    items = _testimonies(200, seed=12)
    assert store.add_testimonies(items[:60]).inserted == 60
    again = _testimonies(200, seed=12)  # the same content: the same keys
    prepared = sql.prepare_testimonies(store.cipher, store.dialect, again)
    with store.write() as conn:
        cells = sql.DeferredCells(conn)
        r = sql.insert_prepared(conn, prepared, cells)
        cells.finish()
    assert (r.inserted, r.skipped) == (140, 60)
    assert store.count_testimonies() == 200
    _assert_cells_recount(store)
