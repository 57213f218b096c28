"""Issue 9 (intake): what the real world sends must get a verdict or a clear refusal, never a
crash, and a refusal stores nothing. Each test is named for a symptom that was really seen."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from html import unescape

import pytest
from click.testing import CliRunner
from markupsafe import escape

from geomap.cli import main
from geomap.errors import InvalidInput
from geomap.intake.run import import_testimonies, quarantine_rows
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter

HEADER = ["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
          "relationship", "narrative"]
GOOD = ["SYN-R1", "Yodok", "39.713", "126.895", "500", "1997", "torture", "detained",
        "[SYNTHETIC] test"]


def row(**changes) -> list[str]:
    r = dict(zip(HEADER, GOOD, strict=True))
    r.update(changes)
    return [r[h] for h in HEADER]


def csv_text(rows, header=HEADER, delimiter=",") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def batches(store) -> list[str]:
    with store.read() as conn:
        return conn.exec_driver_sql("SELECT status FROM import_batches ORDER BY id").scalars().all()


def cli(settings, *args):
    return CliRunner().invoke(main, ["--instance", str(settings.instance_path), *args])


def signed_in_researcher(settings, store):
    from geomap.web import create_app

    from .conftest import https_client, make_user, sign_in

    app = create_app(settings, store)
    user, secret, _ = make_user(store, "researcher")
    return sign_in(https_client(app), user.username, secret)


def upload(client, name: str, data: bytes):
    """Both steps of the upload page: the file, then Import with the columns as recognised."""
    from .conftest import csrf_from

    token = csrf_from(client.get("/import/").data.decode())
    r = client.post("/import/", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                    content_type="multipart/form-data")
    if r.status_code != 200:
        return r
    html = r.data.decode()
    action = re.search(r'action="(/import/map/[^"]+)"', html)[1]
    form = {"csrf_token": csrf_from(html)}
    for fld, options in re.findall(r'<select name="col-(\w+)">(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        form[f"col-{fld}"] = unescape(chosen[1]) if chosen else ""
    return client.post(action, data=form)


# -- item 1: duplicate bad rows and blank rows ---------------------------------------------------
def test_two_identical_blank_rows_do_not_crash_the_import(ref_store, tmp_path):
    # what Excel saves: trailing rows of empty cells, and the same bad row twice
    text = csv_text([row(), row(witness_code="SYN-R2", period="never"),
                     row(witness_code="SYN-R2", period="never"), row(witness_code="SYN-R3"),
                     [""] * len(HEADER), [""] * len(HEADER)]) + "\r\n"
    f = tmp_path / "excel.csv"
    f.write_text(text, encoding="utf-8")
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined, report.blank_rows) == (2, 2, 3)
    assert report.rows == report.inserted + report.quarantined + report.blank_rows
    assert ref_store.count_testimonies() == 2
    assert [r["row"] for r in quarantine_rows(ref_store)] == [3, 4]  # each bad row, once
    assert batches(ref_store) == ["done"]
    again = import_testimonies(ref_store, f, actor="test")
    assert (again.inserted, again.already_present, again.quarantined_before) == (0, 2, 2)
    assert len(quarantine_rows(ref_store)) == 2 and batches(ref_store) == ["done", "done"]


def test_three_copies_of_a_good_row_keep_one_and_quarantine_two_duplicates(ref_store, tmp_path):
    f = tmp_path / "three.csv"
    f.write_text(csv_text([row(), row(), row()]), encoding="utf-8")
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.reasons["duplicate_row"]) == (1, 2)
    assert len(quarantine_rows(ref_store)) == 2


def test_blank_rows_are_reported_as_skipped_on_the_cli_and_the_page(ref_store, settings, tmp_path):
    data = csv_text([row(), [""] * len(HEADER), [], [" "] * len(HEADER)]).encode()
    (tmp_path / "b.csv").write_bytes(data)
    r = cli(settings, "import", "testimonies", str(tmp_path / "b.csv"), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "3 blank rows skipped" in r.output
    page = upload(signed_in_researcher(settings, ref_store), "b.csv", data)
    assert page.status_code == 200 and "blank rows skipped" in page.data.decode()


def test_an_exception_during_an_import_marks_the_batch_failed_not_running(ref_store, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(csv_text([row(witness_code=f"SYN-F{i}") for i in range(6)]), encoding="utf-8")

    def stop_after_first_batch(k):  # a caller that gives up (Ctrl-C, a closed connection)
        raise RuntimeError("caller stopped")

    with pytest.raises(RuntimeError):
        import_testimonies(ref_store, f, actor="test", batch_rows=2,
                           progress=stop_after_first_batch)
    assert batches(ref_store) == ["failed"]
    assert ref_store.count_testimonies() == 2  # the committed batch stays whole
    report = import_testimonies(ref_store, f, actor="test", batch_rows=2)
    assert (report.inserted, report.already_present) == (4, 2)
    assert batches(ref_store) == ["failed", "done"]


# -- item 2: encodings ----------------------------------------------------------------------------
KOREAN_HEADER = ["증인", "장소", "위도", "경도", "기간", "진술"]
# 똠 and 햏 exist in CP949 only (not in EUC-KR's 2,350 syllables): Korean Excel writes them
KOREAN_ROWS = [["SYN-KO1", "요덕 똠방각하 마을", "39.713", "126.895", "1997", "[SYNTHETIC] 햏"],
               ["SYN-KO2", "회령", "42.44", "129.75", "2004", "[SYNTHETIC] 증언"]]


@pytest.mark.parametrize("name, encode, label", [
    ("cp949.csv", lambda t: t.encode("cp949"), "CP949"),
    ("bom.csv", lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "UTF-8 (BOM)"),
    ("plain.csv", lambda t: t.encode("utf-8"), "UTF-8"),
    # Excel's "Unicode text": UTF-16 LE with a BOM, tab separated
    ("unicode.txt", lambda t: t.replace(",", "\t").encode("utf-16"), "UTF-16"),
    ("unicode.tsv", lambda t: t.replace(",", "\t").encode("utf-16"), "UTF-16"),
])
def test_a_csv_saved_by_korean_excel_imports_with_its_encoding_named(ref_store, tmp_path, name,
                                                                      encode, label):
    f = tmp_path / name
    f.write_bytes(encode(csv_text(KOREAN_ROWS, header=KOREAN_HEADER)))
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (2, 0), report.problems
    assert report.encoding == label and f"  encoding: {label}" in report.lines()
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert {r["place_text"] for r in rows} == {"요덕 똠방각하 마을", "회령"}


def test_a_short_cp949_file_is_not_misjudged(ref_store, tmp_path):
    f = tmp_path / "short.csv"
    f.write_bytes("증인,장소\nSYN-S1,똠\n".encode("cp949"))
    report = import_testimonies(ref_store, f, actor="test")
    assert report.encoding == "CP949" and report.inserted == 1


def test_the_encoding_is_shown_in_json_and_on_the_upload_page(ref_store, settings, tmp_path):
    data = csv_text(KOREAN_ROWS, header=KOREAN_HEADER).encode("cp949")
    (tmp_path / "k.csv").write_bytes(data)
    r = cli(settings, "import", "testimonies", str(tmp_path / "k.csv"), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["encoding"] == "CP949"
    page = upload(signed_in_researcher(settings, ref_store), "k.csv", data)
    assert page.status_code == 200 and "CP949" in page.data.decode()


def test_undecodable_text_is_refused_naming_the_line(ref_store, settings, tmp_path):
    good = csv_text(KOREAN_ROWS, header=KOREAN_HEADER).encode("utf-8")
    lines = good.split(b"\r\n")
    lines[2] = lines[2].replace("회령".encode(), b"\xff\xfe" + "회령".encode())
    f = tmp_path / "damaged.csv"
    f.write_bytes(b"\r\n".join(lines))
    with pytest.raises(InvalidInput, match=r"damaged\.csv: line 3 is not valid UTF-8"):
        import_testimonies(ref_store, f, actor="test")
    # CP949 text with a byte CP949 does not have
    cp = csv_text(KOREAN_ROWS * 3, header=KOREAN_HEADER).encode("cp949").split(b"\r\n")
    cp[5] += b"\x80"
    (tmp_path / "cp.csv").write_bytes(b"\r\n".join(cp))
    with pytest.raises(InvalidInput, match=r"cp\.csv: line 6 is not valid CP949"):
        import_testimonies(ref_store, tmp_path / "cp.csv", actor="test")
    assert ref_store.count_testimonies() == 0 and batches(ref_store) == []


def test_geojson_and_kml_in_korean_encodings(ref_store, tmp_path):
    gj = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [129.75, 42.44]},
        "properties": {"witness_code": "SYN-GK1", "place": "똠 마을"}}]}
    (tmp_path / "bom.geojson").write_bytes(
        codecs.BOM_UTF8 + json.dumps(gj, ensure_ascii=False).encode("utf-8"))
    kml = ('<?xml version="1.0" encoding="EUC-KR"?><kml xmlns="http://www.opengis.net/kml/2.2">'
           '<Placemark><name>햏 마을</name><ExtendedData><Data name="witness_code"><value>SYN-KK1'
           '</value></Data></ExtendedData><Point><coordinates>129.7253,41.8344,0</coordinates>'
           '</Point></Placemark></kml>')
    (tmp_path / "euckr.kml").write_bytes(kml.encode("cp949"))
    a = import_testimonies(ref_store, tmp_path / "bom.geojson", actor="test")
    b = import_testimonies(ref_store, tmp_path / "euckr.kml", actor="test")
    assert (a.inserted, a.encoding, b.inserted) == (1, "UTF-8 (BOM)", 1)
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert {r["place_text"] for r in rows} == {"똠 마을", "햏 마을"}


# -- item 6: an instance without boundaries --------------------------------------------------------
def test_importing_into_an_instance_without_boundaries_works_and_says_so(store, settings, tmp_path):
    data = csv_text([row(), row(witness_code="SYN-R2", place="Camp 15", lat="", lon="")]).encode()
    (tmp_path / "nb.csv").write_bytes(data)
    report = import_testimonies(store, tmp_path / "nb.csv", actor="test")
    assert (report.inserted, report.quarantined) == (2, 0)
    assert not report.boundaries_checked
    assert any("no country boundaries" in n for n in report.notes)
    page = upload(signed_in_researcher(settings, store), "nb.csv",
                  csv_text([row(witness_code="SYN-R3")]).encode())
    assert page.status_code == 200 and "geomap init" in page.data.decode()


def test_the_documented_setup_loads_the_shipped_boundaries(settings, tmp_path):
    from geomap.store import Store

    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "deployment.md"),
                encoding="utf-8").read()
    assert "geomap init" in text
    for _ in range(2):  # idempotent
        r = cli(settings, "init")
        assert r.exit_code == 0, r.output
    store = Store.for_instance(settings)
    try:
        assert len(store.boundary_units(0)) == 1 and len(store.boundary_units(1)) > 5
        (tmp_path / "a.csv").write_text(csv_text([row()]), encoding="utf-8")
        report = import_testimonies(store, tmp_path / "a.csv", actor="test")
        assert report.boundaries_checked and report.inserted == 1
    finally:
        store.close()


# -- item 7: malformed structures ------------------------------------------------------------------
def _kmz_with_bad_crc() -> bytes:
    kml = ('<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>Chongjin</name>'
           '<Point><coordinates>129.7253,41.8344</coordinates></Point></Placemark></kml>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("doc.kml", kml)
    data = bytearray(buf.getvalue())
    i = data.index(b"Chongjin")
    data[i] = ord("X")  # the stored CRC no longer matches
    return bytes(data)


_PM = '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>x</name>{}</Placemark></kml>'
MALFORMED = {
    "geojson-that-is-a-list": ("l.geojson", b"[1, 2, 3]", "expected a GeoJSON FeatureCollection"),
    "feature-not-an-object": ("f.geojson", json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}, 7]}
    ).encode(), "feature 2 is not an object"),
    "properties-a-string": ("p.geojson", json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": "abc"}]}
    ).encode(), "feature 1: \"properties\" is not an object"),
    "kml-coordinate-without-comma": ("c.kml", _PM.format(
        "<Point><coordinates>129.7253</coordinates></Point>").encode(),
        "placemark 1: coordinates '129.7253' are not"),
    "kmz-with-bad-crc": ("b.kmz", _kmz_with_bad_crc(), "cannot be unpacked"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_geojson_kml_and_kmz_are_a_clear_refusal_not_a_crash(ref_store, settings,
                                                                        tmp_path, case):
    name, data, words = MALFORMED[case]
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(InvalidInput, match=words):
        import_testimonies(ref_store, f, actor="test")
    r = cli(settings, "import", "testimonies", str(f))
    out = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code not in (0, None) and "Traceback" not in r.output
    assert len(out) == 1 and out[0].startswith("Error: ") and words in out[0], r.output
    page = upload(signed_in_researcher(settings, ref_store), name, data)
    assert page.status_code == 400 and str(escape(words)) in page.data.decode()
    assert ref_store.count_testimonies() == 0 and quarantine_rows(ref_store) == []
    assert "running" not in batches(ref_store)


# -- item 8: --json is JSON only --------------------------------------------------------------------
def _run_cli(inst, *args):
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst)}
    return subprocess.run([sys.executable, "-m", "geomap.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_json_prints_nothing_but_json(ref_store, settings, tmp_path):
    f = tmp_path / "j.csv"
    f.write_text(csv_text([row(), row(witness_code="SYN-J2", lat="", lon="",
                                      place="Hoeryŏng")]), encoding="utf-8")
    r = _run_cli(settings.instance_path, "import", "testimonies", str(f), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole of stdout is one JSON document
    assert doc["inserted"] == 2 and doc["geocode"]["geocoded"] == 1
    assert "candidate links" not in r.stdout and "proposed" in doc["linking"]
    g = _run_cli(settings.instance_path, "geocode", "--json")
    assert g.returncode == 0, g.stderr
    assert json.loads(g.stdout)["geocode"]["geocoded"] == 0


# -- item 9: counts about this file ---------------------------------------------------------------
def test_place_names_located_counts_this_files_rows_not_the_whole_database(ref_store, settings,
                                                                           tmp_path):
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(csv_text([row(witness_code=f"SYN-P{i}", lat="", lon="", place="Hoeryŏng")
                                 for i in range(5)]), encoding="utf-8")
    import_testimonies(ref_store, earlier, actor="test")  # 5 names still to be located
    new = csv_text([row(witness_code=f"SYN-N{i}", lat="", lon="", place="Hoeryŏng")
                    for i in range(2)])
    (tmp_path / "new.csv").write_text(new, encoding="utf-8")
    r = cli(settings, "import", "testimonies", str(tmp_path / "new.csv"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["geocode"] == {"geocoded": 2, "admin_only": 0, "review": 0}
    page = upload(signed_in_researcher(settings, ref_store), "page.csv",
                  new.replace("SYN-N", "SYN-W").encode())
    assert page.status_code == 200
    assert "Place names located: 2;" in page.data.decode()


# -- the crash test, with duplicated bad rows and blank rows ---------------------------------------
def test_a_killed_import_with_duplicate_bad_and_blank_rows_completes_exactly_once(tmp_path):
    from geomap.config import load_settings
    from geomap.store import Store

    inst = tmp_path / "inst"
    assert CliRunner().invoke(main, ["--instance", str(inst), "init"]).exit_code == 0
    n, batch = 12_000, 500
    rows = [row(witness_code=f"SYN-C{i:05d}", lat=f"{39.5 + (i % 1000) / 5000:.5f}")
            for i in range(n)]
    bad = row(witness_code="SYN-BAD", period="never")
    rows[7] = rows[8] = bad  # two identical bad rows in the first batch
    rows[3001] = rows[9000] = row(witness_code="SYN-BAD2", lat="abc")  # and in later ones
    for i in (100, 101, 5000, 11_998, 11_999):
        rows[i] = [""] * len(HEADER)
    good = n - 4 - 5
    f = tmp_path / "big.csv"
    f.write_text(csv_text(rows) + ",,,,,,,,\r\n" * 3, encoding="utf-8")
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst)}
    cmd = [sys.executable, "-m", "geomap.cli", "import", "testimonies", str(f),
           "--batch-rows", str(batch)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store.for_instance(load_settings(inst))
    deadline = time.monotonic() + 120
    while store.count_testimonies() < 2 * batch:
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed = store.count_testimonies()
    assert 0 < landed < good
    with store.read() as conn:
        integrity = (conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                     if store.dialect == "sqlite" else "ok")  # PostgreSQL: WAL recovery
    assert integrity == "ok" and batches(store) == ["running"]
    rerun = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["blank_rows"] == 8 and report["quarantined"] == 4
    assert store.count_testimonies() == good  # every good row exactly once
    q = quarantine_rows(store)
    assert sorted(r["row"] for r in q) == [9, 10, 3003, 9002]  # every bad row once
    assert batches(store) == ["interrupted", "done"]  # nothing left "running"
    store.close()


# -- found by the fuzz -----------------------------------------------------------------------------
def test_a_giant_column_name_is_refused_not_matched_for_minutes(ref_store, tmp_path):
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"witness_code": "SYN-Z1",
                                                            "[" * 300_000: "x"}}]}
    f = tmp_path / "z.geojson"
    f.write_text(json.dumps(gj), encoding="utf-8")
    with pytest.raises(InvalidInput, match="z.geojson: row 1: a column name is 300,000 char"):
        import_testimonies(ref_store, f, actor="test")
    assert ref_store.count_testimonies() == 0 and batches(ref_store) == []


def _xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(HEADER)
    wb.active.append(row())
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_broken_or_bomb_xlsx_is_a_400_not_a_500(ref_store, settings):
    import struct

    bomb = bytearray(_xlsx_bytes())
    i = bomb.find(b"PK\x01\x02")  # every member declares 4 GB unpacked
    while i != -1:
        struct.pack_into("<I", bomb, i + 24, 2**32 - 1)
        i = bomb.find(b"PK\x01\x02", i + 4)
    member = io.BytesIO()  # a valid zip whose sheet XML is not XML
    with zipfile.ZipFile(io.BytesIO(_xlsx_bytes())) as z, zipfile.ZipFile(member, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            out.writestr(info.filename, data[:len(data) // 2] if "sheet1" in info.filename
                         else data)
    c = signed_in_researcher(settings, ref_store)
    for name, data, words in (("bomb.xlsx", bytes(bomb), "unpacks to more than 256 MB"),
                              ("half.xlsx", member.getvalue(), "half.xlsx: unreadable"),
                              ("junk.xlsx", b"PK\x03\x04" + b"\x00" * 100, "not a readable")):
        r = upload(c, name, data)
        html = r.data.decode()
        assert r.status_code == 400 and words in html, (name, re.findall(r"gm-error.*", html))
    assert ref_store.count_testimonies() == 0 and "running" not in batches(ref_store)
