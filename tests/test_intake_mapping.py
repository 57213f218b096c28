"""Issue 9, items 3-5: column mapping, vocabulary labels in either language and synonyms,
radii as people write them. Every file here is generated in the test."""

from __future__ import annotations

import csv
import json
import re
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from geomap.cli import main
from geomap.errors import InvalidInput, UnmappedColumns
from geomap.intake.mapping import header_key, resolve_columns
from geomap.intake.pending import PendingUploads
from geomap.intake.run import import_testimonies, quarantine_rows
from geomap.intake.values import SYNONYMS, parse_radius, vocabulary
from geomap.model import (
    PRECISION_LABELS,
    RELATIONSHIP_LABELS,
    TIER_LABELS,
    VIOLATION_LABELS,
)
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter
from geomap.store.schema import import_batches

from .conftest import csrf_from, https_client, make_user, sign_in


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def batches(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(import_batches)).scalar()


UNRECOGNISED = ["Wtness ref", "Lattitude", "Longitud", "Wann"]
UNRECOGNISED_ROW = ["W-1", "39.713", "126.895", "1999"]


# -- item 3: headers ------------------------------------------------------------------------------
@pytest.mark.parametrize("field, spellings", [
    ("witness_code", ["Witness ID", "witness no.", "Interviewee code", "WITNESS_CODE",
                      "증언자 코드", "증언자번호", "증인코드"]),
    ("lat", ["Lat (N)", "Latitude (deg)", "latitude_dd", "위도", "Lat."]),
    ("lon", ["Long (E)", "lng", "Longitude (deg)", "경도"]),
    ("place_text", ["장소", "Place name"]),
    ("period", ["기간", "시기", "Period observed"]),
    ("radius_m", ["반경", "Radius (km)", "uncertainty (m)"]),
    ("violations", ["인권침해 유형", "Violation type"]),
    ("relationship", ["관계"]),
    ("interview_date", ["면담일", "Date of interview"]),
])
def test_witness_id_and_lat_n_headers_are_recognised_without_a_mapping(field, spellings):
    for h in spellings:
        assert resolve_columns([h, "other"], None).get(field) == h, h


def test_headers_witness_id_lat_n_long_e_import_instead_of_quarantining_every_row(ref_store,
                                                                                    tmp_path):
    f = write_csv(tmp_path / "h.csv", ["Witness ID", "Lat (N)", "Long (E)", "기간", "반경"],
                  [["W-1", "39.713", "126.895", "1997", "about 2 km"]])
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (1, 0), report.problems
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert rows[0]["witness_code"] == "W-1" and rows[0]["radius_m"] == 2000.0


def test_unrecognised_headers_stop_before_importing_and_suggest_a_mapping(ref_store, tmp_path):
    f = write_csv(tmp_path / "u.csv", UNRECOGNISED, [UNRECOGNISED_ROW])
    with pytest.raises(UnmappedColumns) as e:
        import_testimonies(ref_store, f, actor="test")
    err = e.value
    assert isinstance(err, InvalidInput)
    assert err.unmapped == ["witness_code", "location"]
    assert err.header == UNRECOGNISED
    assert err.suggested["witness_code"] == "Wtness ref"
    assert (err.suggested["lat"], err.suggested["lon"]) == ("Lattitude", "Longitud")
    assert "Wtness ref" in str(err) and "--map 'witness_code=Wtness ref'" in str(err)
    # nothing stored: no testimony, no quarantined row, no batch
    assert ref_store.count_testimonies() == 0 and quarantine_rows(ref_store) == []
    assert batches(ref_store) == 0
    # the suggested mapping, applied, imports the row
    report = import_testimonies(ref_store, f, actor="test", mapping={
        k: v for k, v in err.suggested.items() if v})
    assert report.inserted == 1


def test_lat_without_lon_names_lon_as_the_unmapped_field(ref_store, tmp_path):
    f = write_csv(tmp_path / "l.csv", ["code", "lat", "Ost"], [["W-1", "39.7", "126.9"]])
    with pytest.raises(UnmappedColumns) as e:
        import_testimonies(ref_store, f, actor="test", dry_run=True)
    assert e.value.unmapped == ["lon"]


def _cli(settings, *args):
    return CliRunner().invoke(main, ["--instance", str(settings.instance_path), *args])


def test_cli_unrecognised_headers_exit_2_with_the_map_arguments_and_import_nothing(
        ref_store, settings, tmp_path):
    f = write_csv(tmp_path / "u.csv", UNRECOGNISED, [UNRECOGNISED_ROW])
    r = _cli(settings, "import", "testimonies", str(f))
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "witness_code" in r.output and "Wtness ref, Lattitude, Longitud, Wann" in r.output
    assert "--map 'witness_code=Wtness ref' --map lat=Lattitude --map lon=Longitud" in r.output
    assert ref_store.count_testimonies() == 0 and batches(ref_store) == 0
    j = _cli(settings, "import", "testimonies", str(f), "--json")
    assert j.exit_code == 2
    doc = json.loads(j.stdout)  # pure JSON on stdout
    assert doc["error"] == "unmapped_columns" and doc["header"] == UNRECOGNISED
    assert "--map 'witness_code=Wtness ref'" in doc["map_arguments"]
    # the printed arguments work, and can be saved under a name for the next file
    ok = _cli(settings, "import", "testimonies", str(f), "--map", "witness_code=Wtness ref",
              "--map", "lat=Lattitude", "--map", "lon=Longitud", "--save-mapping", "Seoul 2019")
    assert ok.exit_code == 0, ok.output
    f2 = write_csv(tmp_path / "u2.csv", UNRECOGNISED, [["W-2", "39.7", "126.9", "2001"]])
    again = _cli(settings, "import", "testimonies", str(f2), "--mapping-name", "Seoul 2019")
    assert again.exit_code == 0, again.output
    assert ref_store.count_testimonies() == 2
    missing = _cli(settings, "import", "testimonies", str(f2), "--mapping-name", "nope")
    assert missing.exit_code != 0 and "nope" in missing.output and "Traceback" not in missing.output


# -- item 3: the upload page's mapping step -------------------------------------------------------
@pytest.fixture
def researcher(ref_store, settings):
    from geomap.web import create_app

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "researcher")
    return app, user, sign_in(https_client(app), user.username, secret)


def _upload(c, f, name, **extra):
    token = csrf_from(c.get("/import/").data.decode())
    with f.open("rb") as fh:
        return c.post("/import/", data={"csrf_token": token, "file": (fh, name), **extra},
                      content_type="multipart/form-data")


def test_upload_with_unrecognised_headers_shows_a_mapping_step_then_imports(
        researcher, ref_store, settings, tmp_path):
    app, user, c = researcher
    f = write_csv(tmp_path / "u.csv", UNRECOGNISED + ["Note"],
                  [UNRECOGNISED_ROW + ["<script>alert(1)</script>"]])
    r = _upload(c, f, "u.csv")
    html = r.data.decode()
    assert r.status_code == 200
    # a preview of the rows, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    # the missing field is named, nothing imported yet, the suggestions are pre-selected
    assert "No column was recognised for" in html and ref_store.count_testimonies() == 0
    assert '<option value="Wtness ref" selected>' in html
    assert '<option value="Lattitude" selected>' in html
    action = re.search(r'action="(/import/map/([^"]+))"', html)
    upload_id = action[2]
    kept = settings.instance_path / "uploads-pending" / upload_id
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700
    assert stat.S_IMODE((kept / "upload.csv").stat().st_mode) == 0o600
    form = {"csrf_token": csrf_from(html), "col-witness_code": "Wtness ref",
            "col-lat": "Lattitude", "col-lon": "Longitud", "col-period": "Wann",
            "mapping_name": "NGO sheet 2019"}
    # a column the file does not have is a 400 naming it, not a 500
    bad = c.post(action[1], data={**form, "col-period": "../../etc/passwd"})
    assert bad.status_code == 400 and "../../etc/passwd" in bad.data.decode()
    r = c.post(action[1], data=form)
    assert r.status_code == 200, r.data[:500]
    assert ref_store.count_testimonies() == 1
    assert not kept.exists()  # deleted after the import
    # the saved mapping is offered on the next upload and does the mapping
    page = c.get("/import/").data.decode()
    assert '<option value="NGO sheet 2019">' in page
    f2 = write_csv(tmp_path / "u2.csv", UNRECOGNISED, [["W-2", "39.7", "126.9", "2001"]])
    r = _upload(c, f2, "u2.csv", saved_mapping="NGO sheet 2019")
    html = r.data.decode()
    assert "No column was recognised" not in html
    assert '<option value="Wann" selected>' in html
    assert c.post("/import/", data={"csrf_token": csrf_from(page), "saved_mapping": "x"},
                  content_type="multipart/form-data").status_code == 400


def test_a_kept_upload_is_bound_to_its_user_and_never_named_by_a_path(researcher, ref_store,
                                                                        tmp_path):
    app, user, c = researcher
    f = write_csv(tmp_path / "u.csv", UNRECOGNISED, [UNRECOGNISED_ROW])
    html = _upload(c, f, "u.csv").data.decode()
    action = re.search(r'action="(/import/map/[^"]+)"', html)[1]
    other, secret, _ = make_user(ref_store, "researcher")
    o = sign_in(https_client(app), other.username, secret)
    token = csrf_from(o.get("/import/").data.decode())
    assert o.post(action, data={"csrf_token": token}).status_code == 404
    for bogus in ("..%2F..%2Fgeomap.sqlite3", "AAAAAAAAAAAAAAAAAAAAAA", "x"):
        assert c.post(f"/import/map/{bogus}",
                      data={"csrf_token": csrf_from(html)}).status_code == 404
    assert ref_store.count_testimonies() == 0


def test_kept_uploads_expire_after_an_hour(tmp_path):
    import io
    import os
    import time

    p = PendingUploads(tmp_path / "pending")
    uid = p.save(io.BytesIO(b"a,b\n1,2\n"), ".csv", "alice", "a.csv")
    assert p.get(uid, "alice")[1] == "a.csv"
    old = time.time() - 3700
    os.utime(tmp_path / "pending" / uid, (old, old))
    assert p.sweep() == 1 and not (tmp_path / "pending" / uid).exists()


# -- item 4: vocabulary labels in either language, synonyms --------------------------------------
def _ko_catalogue():
    from babel.messages.pofile import read_po

    from geomap.intake.values import TRANSLATIONS_DIR

    with (TRANSLATIONS_DIR / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


@pytest.mark.parametrize("field, labels", [
    ("violations", VIOLATION_LABELS), ("relationship", RELATIONSHIP_LABELS),
    ("precision", PRECISION_LABELS), ("tier", TIER_LABELS)])
def test_every_label_the_ui_shows_in_either_language_is_accepted(field, labels):
    ko = _ko_catalogue()
    v = vocabulary(field)
    for code, en in labels.items():
        assert ko.get(en), f"no Korean label for {en!r}"
        for text in (code.value, en, ko[en], en.upper(), ko[en].replace(" ", "")):
            assert v.match(text) == code.value, text


def test_korean_violation_labels_shown_by_the_ui_are_accepted(ref_store, tmp_path):
    f = write_csv(tmp_path / "k.csv", ["증언자 코드", "위도", "경도", "인권침해 유형", "관계"], [
        ["W-1", "39.713", "126.895", "강제노동, 고문·가혹행위", "직접 구금됨"],
        ["W-2", "39.713", "126.895", "강제노동; 고문 가혹행위", "피해자에게서 들음"],
        ["W-3", "39.713", "126.895", "Torture / ill-treatment", "Hearsay"],
    ])
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (3, 0), report.problems
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    by = {r["witness_code"]: r for r in rows}
    assert by["W-1"]["violations"] == ["forced_labour", "torture"]
    assert by["W-2"]["relationship"] == "heard_from_victim"
    assert by["W-3"]["violations"] == ["torture"]


@pytest.mark.parametrize("field, text, code", [
    ("violations", "beatings", "torture"), ("violations", "forced labor", "forced_labour"),
    ("violations", "폭행", "torture"), ("relationship", "cellmate told me", "heard_from_victim"),
    ("relationship", "Cellmate told me.", "heard_from_victim")])
def test_documented_synonyms_like_beatings_and_cellmate_told_me_are_accepted(field, text, code):
    assert vocabulary(field).match(text) == code


def test_the_synonym_table_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "periods.md").read_text("utf-8")
    for field, table in SYNONYMS.items():
        for syn, code in table.items():
            assert f"| {syn} | {code} |" in doc, (field, syn)


def test_an_unknown_value_suggests_the_nearest_label_in_its_own_language(ref_store, tmp_path):
    f = write_csv(tmp_path / "s.csv", ["code", "place", "violations", "relationship"], [
        ["W-1", "Yodok", "강제노옹", "detaind"]])
    report = import_testimonies(ref_store, f, actor="test", dry_run=True)
    msgs = {p["field"]: p["message"] for p in report.problems[0]["problems"]}
    assert "did you mean '강제노동' (forced_labour)?" in msgs["violations"]
    assert "did you mean 'detained' (Was detained there)?" in msgs["relationship"]


# -- item 5: radii ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, metres", [
    ("about 2 km", 2000), ("2km", 2000), ("one kilometre", 1000), ("500m", 500),
    ("반경 2킬로미터", 2000), ("500", 500), ("1,5 km", 1500), ("1,500 m", 1500),
    ("약 500미터 정도", 500), ("within 300 metres", 300), ("approx. 1.2 km", 1200),
    ("c. 3 kilometers", 3000), ("around ten metres", 10), ("2 킬로", 2000), ("~200m", 200),
    ("2km쯤", 2000)])
def test_radius_about_2_km_and_500m_are_read_as_metres(text, metres):
    assert parse_radius(text) == pytest.approx(metres)


@pytest.mark.parametrize("text", ["big", "2 miles", "1.2.3 km", "km", "two hundred yards"])
def test_a_radius_that_is_not_a_distance_is_an_error_naming_the_text(text):
    with pytest.raises(InvalidInput) as e:
        parse_radius(text)
    assert repr(text) in str(e.value)


def test_a_bare_number_under_a_km_header_is_kilometres(ref_store, tmp_path):
    f = write_csv(tmp_path / "r.csv", ["code", "lat", "lon", "Radius (km)"],
                  [["W-1", "39.713", "126.895", "2"], ["W-2", "39.713", "126.895", "300 m"]])
    report = import_testimonies(ref_store, f, actor="test")
    assert report.inserted == 2
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert {r["witness_code"]: r["radius_m"] for r in rows} == {"W-1": 2000.0, "W-2": 300.0}


def test_header_keys_ignore_units_case_and_punctuation():
    assert header_key("Lat (N)") == header_key("LATITUDE".lower()[:3]) == "lat"
    assert header_key("witness no.") == "witnessno"
    assert header_key("증언자 코드") == "증언자코드"


def test_a_mapping_file_that_is_not_an_object_or_names_no_column_is_a_clear_error(
        ref_store, settings, tmp_path):
    f = write_csv(tmp_path / "u.csv", UNRECOGNISED, [UNRECOGNISED_ROW])
    for text in ('["witness_code"]', '{"witness_code": 3}', '{"nope": "Wann"}'):
        m = tmp_path / "m.json"
        m.write_text(text, encoding="utf-8")
        r = _cli(settings, "import", "testimonies", str(f), "--mapping", str(m))
        assert r.exit_code not in (0, None) and "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert ref_store.count_testimonies() == 0 and batches(ref_store) == 0


@pytest.mark.parametrize("header", ["Witness name", "증언자 이름", "Interviewee full name"])
def test_a_column_of_names_is_never_suggested_as_the_witness_code(header):
    from geomap.intake.mapping import suggest_columns

    assert "witness_code" not in suggest_columns([header, "Lattitude"], {})
    assert "witness_code" not in resolve_columns([header], None)
