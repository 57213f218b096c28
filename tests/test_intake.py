"""Testimony intake: coordinate formats, validation reasons, formats, idempotency, crashes."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from geomap.coords import parse_angle, parse_geometry, parse_pair
from geomap.errors import InvalidInput
from geomap.intake.run import import_testimonies, quarantine_csv, quarantine_rows
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter

HEADER = ["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
          "relationship", "narrative"]
GOOD = ["SYN-I1", "Yodok", "39.713", "126.895", "500", "1997", "torture; forced labour",
        "detained", "[SYNTHETIC] test"]


def write_csv(path, rows, header=HEADER):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def row(**changes):
    r = dict(zip(HEADER, GOOD, strict=True))
    r.update(changes)
    return [r[h] for h in HEADER]


# -- coordinates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, lat, lon", [
    ("39.571086, 126.055466", 39.571086, 126.055466),
    ("39°34′16″N 126°03′20″E", 39.571111, 126.055556),
    ("39°34'16\"N, 126°03'20\"E", 39.571111, 126.055556),
    ("39d34'16\"N 126d03'20\"E", 39.571111, 126.055556),
    ("39 34 16 N, 126 3 20 E", 39.571111, 126.055556),
    ("39:34:16N 126:03:20E", 39.571111, 126.055556),
    ("N39 34.27 E126 3.33", 39.571167, 126.0555),
    ("39°34.27′N, 126°3.33′E", 39.571167, 126.0555),
    ("126.0554E 39.5711N", 39.5711, 126.0554),  # hemisphere letters decide the order
    ("39,5711; 126,0554", 39.5711, 126.0554),  # decimal commas
    ("-33.9, 151.2", -33.9, 151.2),
])
def test_coordinate_pairs_in_every_common_format(text, lat, lon):
    got = parse_pair(text)
    assert got == pytest.approx((lat, lon), abs=1e-5)


@pytest.mark.parametrize("text, value", [("126°03′20″E", 126.055556), ("126.5W", -126.5),
                                         ("S 33 54.0", -33.9), ("-33.9", -33.9)])
def test_single_angles(text, value):
    assert parse_angle(text)[0] == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("text, why", [("abc", "not a coordinate"),
                                       ("39°61′N", "below 60"), ("N39.5S", "two hemispheres"),
                                       ("39.5°30′N", "fraction")])
def test_bad_coordinates_say_why(text, why):
    with pytest.raises(InvalidInput, match=why):
        parse_angle(text)


def test_geometry_text_as_wkt_or_geojson():
    assert parse_geometry("POINT (126.05 39.57)").x == 126.05
    assert parse_geometry('{"type": "Point", "coordinates": [126.05, 39.57]}').y == 39.57
    with pytest.raises(InvalidInput, match="neither WKT nor GeoJSON"):
        parse_geometry("POINT (126.05")


# -- validation reasons -----------------------------------------------------------------------------
@pytest.mark.parametrize("changes, code, field, words", [
    ({"witness_code": ""}, "missing", "witness_code", "no witness code"),
    ({"lat": "", "lon": "", "place": ""}, "missing", "location", "neither coordinates"),
    ({"lon": ""}, "missing", "lon", "lon is empty"),
    ({"lat": "abc"}, "unparseable", "lat", "not a coordinate"),
    ({"lat": "95"}, "out_of_range", "lat", "outside -90..90"),
    ({"lat": "51.5", "lon": "-0.12"}, "far_outside", "location", "km from North Korea"),
    ({"lat": "126.895", "lon": "39.713"}, "likely_swap", "location", "look swapped"),
    ({"period": "yesterday"}, "unparseable", "period", "'yesterday'"),
    ({"violations": "tortur"}, "unknown_value", "violations", "did you mean 'torture'"),
    ({"relationship": "saw it"}, "unknown_value", "relationship", "is not one of"),
    ({"radius_m": "big"}, "unparseable", "radius_m", "not a number"),
    ({"radius_m": "250000"}, "out_of_range", "radius_m", "outside 0.."),
])
def test_each_validation_reason(ref_store, tmp_path, changes, code, field, words):
    f = write_csv(tmp_path / "one.csv", [row(**changes)])
    report = import_testimonies(ref_store, f, actor="test", dry_run=True)
    assert report.quarantined == 1 and report.inserted == 0
    [p] = [p for p in report.problems[0]["problems"] if p["code"] == code]
    assert p["field"] == field and words in p["message"]


def test_a_swap_is_reported_with_its_fix_not_applied(ref_store, tmp_path):
    f = write_csv(tmp_path / "swap.csv", [row(lat="126.895", lon="39.713")])
    report = import_testimonies(ref_store, f, actor="test")
    assert report.inserted == 0 and ref_store.count_testimonies() == 0
    msg = report.problems[0]["problems"][0]["message"]
    assert "put 39.71300 as latitude and 126.89500 as longitude" in msg


def test_duplicate_rows_in_one_file(ref_store, tmp_path):
    f = write_csv(tmp_path / "dup.csv", [row(), row()])
    report = import_testimonies(ref_store, f, actor="test")
    assert report.inserted == 1 and report.reasons["duplicate_row"] == 1


def test_good_rows_land_and_carry_everything(ref_store, tmp_path):
    f = write_csv(tmp_path / "good.csv", [row(), row(witness_code="SYN-I2", lat="", lon="",
                                                     place="Camp 15")])
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (2, 0)
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    r = next(x for x in rows if x["witness_code"] == "SYN-I1")
    assert (r["minx"], r["miny"], r["radius_m"]) == (126.895, 39.713, 500.0)
    assert r["violations"] == ["forced_labour", "torture"] and r["admin1_id"] is not None
    name_only = next(x for x in rows if x["witness_code"] == "SYN-I2")
    assert name_only["minx"] is None and name_only["place_text"] == "Camp 15"


# -- nothing lost, nothing doubled ----------------------------------------------------------------
def test_reimporting_the_same_file_adds_nothing(ref_store, tmp_path):
    f = write_csv(tmp_path / "a.csv", [row(), row(witness_code="SYN-I2"), row(period="x")])
    first = import_testimonies(ref_store, f, actor="test")
    again = import_testimonies(ref_store, f, actor="test")
    assert (first.inserted, first.quarantined) == (2, 1)
    assert (again.inserted, again.already_present, again.quarantined_before) == (0, 2, 1)
    assert ref_store.count_testimonies() == 2 and len(quarantine_rows(ref_store)) == 1


def test_dry_run_writes_nothing(ref_store, tmp_path):
    f = write_csv(tmp_path / "d.csv", [row(), row(period="x")])
    report = import_testimonies(ref_store, f, actor="test", dry_run=True)
    assert (report.inserted, report.quarantined) == (1, 1)
    assert ref_store.count_testimonies() == 0 and quarantine_rows(ref_store) == []


def test_quarantine_export_can_be_corrected_and_reimported(ref_store, tmp_path):
    f = write_csv(tmp_path / "q.csv", [row(lat="126.895", lon="39.713")])
    import_testimonies(ref_store, f, actor="test")
    text = quarantine_csv(ref_store)
    rows = list(csv.DictReader(text.splitlines()))
    assert "look swapped" in rows[0]["_problems"]
    rows[0]["lat"], rows[0]["lon"] = rows[0]["lon"], rows[0]["lat"]  # the person's fix
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    report = import_testimonies(ref_store, fixed, actor="test")
    assert report.inserted == 1 and report.quarantined == 0


def test_quarantined_rows_are_encrypted_at_rest(ref_store, tmp_path, settings):
    f = write_csv(tmp_path / "secret.csv", [row(narrative="QUARANTINED-SECRET-9x", lat="abc")])
    import_testimonies(ref_store, f, actor="test")
    raw = b"".join(p.read_bytes() for p in settings.instance_path.glob("geomap.sqlite3*"))
    assert b"QUARANTINED-SECRET-9x" not in raw
    assert quarantine_rows(ref_store)[0]["raw"]["narrative"] == "QUARANTINED-SECRET-9x"


def test_explicit_mapping_and_its_errors(ref_store, tmp_path):
    f = write_csv(tmp_path / "m.csv", [["W-1", "39.7, 126.9", "1999"]],
                  header=["Interviewee", "Where", "Year"])
    report = import_testimonies(ref_store, f, actor="test",
                                mapping={"witness_code": "Interviewee", "coordinates": "Where",
                                         "period": "Year"})
    assert report.inserted == 1 and report.notes
    with pytest.raises(InvalidInput, match="no such column"):
        import_testimonies(ref_store, f, actor="test", mapping={"period": "When"})


# -- formats ----------------------------------------------------------------------------------------
def test_xlsx_geojson_kml_and_kmz(ref_store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(row(witness_code="SYN-X1"))
    wb.save(tmp_path / "t.xlsx")
    gj = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [129.75, 42.44]},
        "properties": {"witness_code": "SYN-G1", "place": "회령", "period": "2004년 봄",
                       "violations": ["torture"], "relationship": "Saw directly"}}]}
    (tmp_path / "t.geojson").write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    kml = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>Chongjin</name>
<ExtendedData><Data name="witness_code"><value>SYN-K1</value></Data>
<Data name="period"><value>c. 1995</value></Data></ExtendedData>
<Point><coordinates>129.7253,41.8344,0</coordinates></Point></Placemark></Document></kml>"""
    (tmp_path / "t.kml").write_text(kml, encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "t.kmz", "w") as z:
        z.writestr("doc.kml", kml.replace("SYN-K1", "SYN-K2"))
    for name in ("t.xlsx", "t.geojson", "t.kml", "t.kmz"):
        report = import_testimonies(ref_store, tmp_path / name, actor="test")
        assert (report.inserted, report.quarantined) == (1, 0), (name, report.problems)
    rows, _ = ref_store.testimony_rows(TestimonyFilter(), SYSTEM)
    assert {r["witness_code"] for r in rows} == {"SYN-X1", "SYN-G1", "SYN-K1", "SYN-K2"}


def test_hostile_xml_is_refused(ref_store, tmp_path):
    bomb = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<kml><Placemark><name>&lol2;</name></Placemark></kml>"""
    (tmp_path / "bomb.kml").write_text(bomb)
    with pytest.raises(InvalidInput, match="not safe"):
        import_testimonies(ref_store, tmp_path / "bomb.kml", actor="test")


def test_kmz_archives_are_capped(ref_store, tmp_path):
    with zipfile.ZipFile(tmp_path / "many.kmz", "w") as z:
        for i in range(101):
            z.writestr(f"f{i}.kml", "<kml/>")
    with pytest.raises(InvalidInput, match="at most 100"):
        import_testimonies(ref_store, tmp_path / "many.kmz", actor="test")
    with zipfile.ZipFile(tmp_path / "big.kmz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", b"<kml>" + b" " * (51 * 2**20) + b"</kml>")
    with pytest.raises(InvalidInput, match="unpacks to more than"):
        import_testimonies(ref_store, tmp_path / "big.kmz", actor="test")


def test_unsupported_and_remote_files_are_refused(ref_store, tmp_path):
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(InvalidInput, match="unsupported file type"):
        import_testimonies(ref_store, tmp_path / "x.docx", actor="test")
    with pytest.raises(InvalidInput, match="only local files"):
        import_testimonies(ref_store, "/vsicurl/http://127.0.0.1:9/x.csv", actor="test")


# -- a crash in the middle -------------------------------------------------------------------------
def test_a_killed_import_leaves_whole_batches_and_a_rerun_completes_exactly_once(tmp_path):
    from click.testing import CliRunner

    from geomap.cli import main
    from geomap.config import load_settings
    from geomap.store import Store

    inst = tmp_path / "inst"
    assert CliRunner().invoke(main, ["--instance", str(inst), "demo", "--testimonies", "0",
                                     "--no-serve"]).exit_code == 0
    n, batch = 12_000, 500
    rows = [row(witness_code=f"SYN-C{i:05d}", lat=f"{39.5 + (i % 1000) / 5000:.5f}")
            for i in range(n)]
    rows[7] = row(witness_code="SYN-BAD", period="never")  # one bad row, quarantined once
    f = write_csv(tmp_path / "big.csv", rows)
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst)}
    cmd = [sys.executable, "-m", "geomap.cli", "import", "testimonies", str(f),
           "--batch-rows", str(batch)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store.for_instance(load_settings(inst))
    deadline = time.monotonic() + 60
    while store.count_testimonies() < 2 * batch:
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed = store.count_testimonies()
    assert 0 < landed < n - 1
    with store.read() as conn:
        # whole batches only: every stored testimony has its violation rows, nothing half-done
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM testimonies t WHERE NOT EXISTS (SELECT 1 FROM "
            "testimony_violations v WHERE v.testimony_id = t.id)").scalar()
        status = conn.exec_driver_sql("SELECT status FROM import_batches").scalars().all()
        integrity = (conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                     if store.dialect == "sqlite" else "ok")  # PostgreSQL: WAL recovery
    assert orphans == 0 and integrity == "ok" and status == ["running"]
    # whole batches: the first one held the bad row (quarantined, not a testimony)
    assert (landed + 1) % batch == 0
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert store.count_testimonies() == n - 1
    assert len(quarantine_rows(store)) == 1
    with store.read() as conn:
        status = conn.exec_driver_sql("SELECT status FROM import_batches ORDER BY id").scalars().all()
    assert status == ["interrupted", "done"]
    store.close()


# -- the upload page ------------------------------------------------------------------------------
def test_upload_page_shows_the_validation_report(ref_store, settings, tmp_path):
    from geomap.web import create_app

    from .conftest import csrf_from, https_client, make_user, sign_in

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "researcher")
    c = sign_in(https_client(app), user.username, secret)
    f = write_csv(tmp_path / "u.csv", [row(), row(witness_code="", place="<b>x</b>")])
    token = csrf_from(c.get("/import/").data.decode())
    with f.open("rb") as fh:
        r = c.post("/import/", data={"csrf_token": token, "file": (fh, "u.csv")},
                   content_type="multipart/form-data")
    # the mapping step: the first rows as text, columns chosen, then Import
    html = r.data.decode()
    assert r.status_code == 200 and "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    action = re.search(r'action="(/import/map/[^"]+)"', html)[1]
    r = c.post(action, data={"csrf_token": csrf_from(html), "col-witness_code": "witness_code",
                             "col-place_text": "place", "col-lat": "lat", "col-lon": "lon",
                             "col-radius_m": "radius_m", "col-period": "period",
                             "col-violations": "violations",
                             "col-relationship": "relationship",
                             "col-narrative": "narrative"})
    html = r.data.decode()
    assert r.status_code == 200 and "no witness code" in html and "<b>x</b>" not in html
    assert ref_store.count_testimonies() == 1
    export = c.get("/import/quarantine.csv")
    assert export.mimetype == "text/csv" and "no witness code" in export.data.decode()
    viewer, vsecret, _ = make_user(ref_store, "viewer")
    v = sign_in(https_client(app), viewer.username, vsecret)
    assert v.get("/import/").status_code == 404  # viewers cannot import (nor see the page)
    assert v.get("/import/quarantine.csv").status_code == 404
