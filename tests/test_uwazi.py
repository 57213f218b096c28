"""Uwazi import: both CSV dialects and API JSON, mapped to sites and testimonies, with a per-row
report of every dropped cell; unpublished entities skipped unless asked; re-imports add nothing.
The fixtures in tests/data/uwazi/ are SYNTHETIC (see its README)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from geomap.cli import main
from geomap.errors import InvalidInput
from geomap.intake.uwazi import (
    API_JSON,
    EXPORT_CSV,
    IMPORT_CSV,
    Prop,
    convert,
    import_uwazi,
    load_mapping,
    read_entities,
)
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter

DATA = Path(__file__).parent / "data" / "uwazi"


def rows_by_title(report) -> dict:
    return {r.title: r for r in report.rows}


def dropped(row) -> dict[str, str]:
    return {d["column"]: str(d["reason"]) for d in row.dropped}


def stored_testimonies(store) -> dict[str, dict]:
    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM)
    return {r["witness_code"]: r for r in rows}


def test_dialects_and_encodings_are_detected():
    assert read_entities(DATA / "import_facilities.csv")[:2] == (IMPORT_CSV, "UTF-8")
    assert read_entities(DATA / "import_testimonies_cp949.csv")[:2] == (IMPORT_CSV, "CP949")
    assert read_entities(DATA / "export_mixed.csv")[:2] == (EXPORT_CSV, "UTF-8 (BOM)")
    dialect, _, entities = read_entities(DATA / "api_entities.json")
    # the Korean translation of an entity (same sharedId) joins it, not a second entity
    assert dialect == API_JSON and len(entities) == 3
    assert entities[0].values["title"] == {"en": "SYNTHETIC Camp Zeta", "ko": "합성 제타 교화소"}


def test_import_dialect_facilities_become_sites(store):
    report = import_uwazi(store, DATA / "import_facilities.csv", "test")
    assert report.sites_inserted == 3 and report.counts == {"stored": 3}
    alpha = store.site_by_key("uwazi-synthetic-camp-alpha", SYSTEM)
    assert alpha.name == "SYNTHETIC Camp Alpha" and alpha.name_ko == "합성 알파 수용소"
    assert alpha.aliases == ["Alpha-ri camp", "Camp A"]
    assert (alpha.geometry.y, alpha.geometry.x) == (39.61, 126.92)
    assert alpha.facility_type == "kyohwaso" and alpha.facility_type_note == "Kyo-hwa-so"
    assert (alpha.opened, alpha.closed) == (1985, 2003)
    assert alpha.tier == "internal"  # published or not, never public by default
    rows = rows_by_title(report)
    assert rows["SYNTHETIC Camp Alpha"].row == 2  # the spreadsheet's row; blank row 3 skipped
    assert dropped(rows["SYNTHETIC Camp Alpha"]) == {
        "description__ko": "ko version: note holds one language (chose en)",
        "province": "not mapped to a geomap field",
        "related_testimonies": "relationship fields are not supported (they link other Uwazi "
                               "entities; link sites and testimonies in geomap)",
        "shoe_size": "unknown property: template 'Detention facility' has no 'shoe_size'",
    }
    beta = rows["SYNTHETIC Holding Centre Beta"]
    assert any("1 more geolocation" in str(n) for n in beta.notes)
    site = store.site_by_key("uwazi-synthetic-holding-centre-beta", SYSTEM)
    assert (site.geometry.y, site.opened, site.closed) == (41.40, None, 1999)  # ":1999-06-30"
    gamma = dropped(rows["SYNTHETIC Site Gamma"])
    assert gamma["location_geolocation"].startswith("unparsable geolocation")
    assert gamma["operating_period"].startswith("unparsable daterange")
    assert store.site_by_key("uwazi-synthetic-site-gamma", SYSTEM).geometry is None


def test_import_dialect_testimonies_go_through_the_testimony_import(store):
    report = import_uwazi(store, DATA / "import_testimonies.csv", "test")
    rows = rows_by_title(report)
    assert report.testimonies.inserted == 2 and report.testimonies.quarantined == 1
    got = stored_testimonies(store)
    one = got["SYN-UW-001"]
    assert one["place_text"] == "SYNTHETIC Camp Alpha" and one["tier"] == "internal"
    assert sorted(one["violations"]) == ["forced_labour", "torture"]
    assert one["period_text"] == "1997-03-01 to 1999-08-31"
    assert got["SYN-UW-002"]["period_text"] == "2004 to 2005"
    assert dropped(rows["SYN-UW-001"]) == {
        "place_of_detention__ko": "ko version: place_text holds one language (chose en)",
        "summary__ko": "ko version: narrative holds one language (chose en)",
        "facility": "relationship fields are not supported (they link other Uwazi entities; "
                    "link sites and testimonies in geomap)",
        "age_at_detention": "not mapped to a geomap field",
    }
    three = rows["SYN-UW-003"]
    assert three.row == 6 and three.status == "quarantined" and "no location" in three.reason
    assert dropped(three)["interview_date"].startswith("unparsable date")
    # the quarantine report names the Uwazi file's row, not the go-between file's
    assert [p["row"] for p in report.testimonies.problems] == [6]


def test_cp949_file_in_korean(store):
    report = import_uwazi(store, DATA / "import_testimonies_cp949.csv", "test", language="ko")
    assert report.encoding == "CP949" and report.counts == {"stored": 2}
    ko = stored_testimonies(store)["SYN-KO-001"]
    assert ko["place_text"] == "합성 감마 구류장"
    assert sorted(ko["violations"]) == ["forced_labour", "torture"]
    row = rows_by_title(report)["SYN-KO-001"]
    assert set(dropped(row)) == {"place_of_detention__en", "summary__en"}


def test_export_dialect_with_unpublished_rows(store):
    report = import_uwazi(store, DATA / "export_mixed.csv", "test")
    rows = rows_by_title(report)
    assert report.dialect == EXPORT_CSV
    assert report.sites_inserted == 1 and report.testimonies.inserted == 1
    delta = store.site_by_key("uwazi-synthetic-camp-delta", SYSTEM)
    assert (delta.opened, delta.closed, delta.facility_type) == (1970, 2010, "kwalliso")
    assert set(stored_testimonies(store)) == {"SYN-EX-001"}
    assert stored_testimonies(store)["SYN-EX-001"]["period_text"] == "1999-01-01 to 2000-06-30"
    for title in ("SYN-EX-002", "SYNTHETIC Camp Epsilon"):
        assert rows[title].status == "skipped" and "unpublished" in str(rows[title].reason)
    assert store.site_by_key("uwazi-synthetic-camp-epsilon", SYSTEM) is None
    other = rows["SYNTHETIC Unknown Template Entity"]
    assert other.status == "skipped" and "'Perpetrator' is not in the mapping" in str(other.reason)
    assert dropped(other) == {"Title": "no template to map it by",
                              "Date added": "Uwazi bookkeeping (not imported)"}
    assert dropped(rows["SYNTHETIC Camp Delta"]) == {
        "Date added": "Uwazi bookkeeping (not imported)",
        "Documents": "files are not imported",
        "Province": "not mapped to a geomap field",
        "Related testimonies": "relationship fields are not supported (they link other Uwazi "
                               "entities; link sites and testimonies in geomap)",
    }


def test_unpublished_only_on_request_and_then_internal(store):
    report = import_uwazi(store, DATA / "export_mixed.csv", "test", include_unpublished=True)
    assert report.counts == {"stored": 4, "skipped": 1}
    assert stored_testimonies(store)["SYN-EX-002"]["tier"] == "internal"
    assert store.site_by_key("uwazi-synthetic-camp-epsilon", SYSTEM).tier == "internal"
    assert "unpublished in Uwazi: stored internal-tier" in \
        map(str, rows_by_title(report)["SYN-EX-002"].notes)


def test_api_json_with_epoch_dates_and_translations(store):
    report = import_uwazi(store, DATA / "api_entities.json", "test")
    rows = rows_by_title(report)
    zeta = store.site_by_key("uwazi-synfac01", SYSTEM)
    assert zeta.name == "SYNTHETIC Camp Zeta" and zeta.name_ko == "합성 제타 교화소"
    assert (zeta.opened, zeta.closed, zeta.aliases) == (1982, 2005, ["Zeta-ri"])
    assert (zeta.geometry.y, zeta.geometry.x) == (39.9, 125.9)  # the first of two
    t = stored_testimonies(store)["SYN-API-001"]
    assert t["period_text"] == "from 1998-05-01"
    assert sorted(t["violations"]) == ["forced_labour", "torture"]
    api = dropped(rows["SYN-API-001"])
    assert api["metadata.eye_colour"].startswith("unknown property")
    assert api["metadata.facility"].startswith("relationship fields are not supported")
    assert dropped(rows["SYNTHETIC Camp Zeta"])["attachments"] == "files are not imported"
    assert rows["SYN-API-002"].status == "skipped"


def test_reimport_adds_nothing(store):
    for name in ("import_facilities.csv", "import_testimonies.csv", "export_mixed.csv",
                 "api_entities.json"):
        import_uwazi(store, DATA / name, "test", include_unpublished=True)
    sites, n = len(store.sites(SYSTEM)), store.count_testimonies()
    for name in ("import_facilities.csv", "import_testimonies.csv", "export_mixed.csv",
                 "api_entities.json"):
        again = import_uwazi(store, DATA / name, "test", include_unpublished=True)
        assert again.sites_inserted == 0
        assert again.testimonies is None or again.testimonies.inserted == 0
    assert (len(store.sites(SYSTEM)), store.count_testimonies()) == (sites, n)


def test_dry_run_writes_nothing(store):
    report = import_uwazi(store, DATA / "export_mixed.csv", "test", dry_run=True)
    assert report.counts["would store"] == 2
    assert store.count_testimonies() == 0 and store.sites(SYSTEM) == []


@pytest.mark.parametrize("text, expected", [
    ("1997-03-01:1999-08-31", ((date(1997, 3, 1), False), (date(1999, 8, 31), False))),
    ("1997-03-01~1999-08-31", ((date(1997, 3, 1), False), (date(1999, 8, 31), False))),
    ("2004:", ((date(2004, 1, 1), True), None)),
    ({"from": 0, "to": None}, ((date(1970, 1, 1), False), None)),
])
def test_date_ranges(text, expected):
    assert convert(Prop("p", "P", "daterange"), text, IMPORT_CSV)[0] == expected


def test_bad_mapping_and_files_are_refused(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[[templates]]\nname = "X"\ntarget = "camps"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="target must be"):
        load_mapping(bad)
    bad.write_text('[[templates]]\nname = "X"\ntarget = "sites"\nproperties = '
                   '[{name = "a", type = "text", to = "witness_code"}]\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="not a geomap sites field"):
        load_mapping(bad)
    notuwazi = tmp_path / "other.csv"
    notuwazi.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no Title column"):
        read_entities(notuwazi)
    js = tmp_path / "x.json"
    js.write_text('{"rows": [{"no": "title"}]}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="not an Uwazi entity"):
        read_entities(js)


def test_cli_prints_the_report_and_json(settings, tmp_path):
    f = tmp_path / "export_mixed.csv"
    shutil.copy(DATA / "export_mixed.csv", f)
    base = ["--instance", str(settings.instance_path), "import", "uwazi", str(f)]
    r = CliRunner().invoke(main, base)
    assert r.exit_code == 0, r.output
    assert "dropped Documents = '/files/abc.pdf': files are not imported" in r.output
    assert "row 4 'SYN-EX-002' [Testimony]: skipped" in r.output
    r = CliRunner().invoke(main, [*base, "--json", "--include-unpublished", "--mapping",
                                  "geomap/intake/uwazi_mappings/example_detention_database.toml"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):])
    assert doc["dialect"] == EXPORT_CSV and doc["counts"]["stored"] == 4
    r = CliRunner().invoke(main, [*base, "--template", "Nope"])
    assert r.exit_code == 2 and "no such template" in r.output


def test_many_values_joined_by_pipes_do_not_make_the_pipe_the_separator(store, tmp_path):
    # Uwazi writes multi-values unquoted: this row has more "|" than ","
    f = tmp_path / "pipes.csv"
    f.write_text("title,violations,location_geolocation,summary\n"
                 "SYN-P-1,Torture|Forced labour|Execution|Deliberate starvation|Sexual violence|"
                 "Arbitrary detention,39.1|127.1,SYNTHETIC pipes\n", encoding="utf-8")
    report = import_uwazi(store, f, "test", template="Testimony")
    assert report.counts == {"stored": 1}
    assert len(stored_testimonies(store)["SYN-P-1"]["violations"]) == 6


# -- the web page -------------------------------------------------------------------------------
@pytest.fixture
def editor(store, settings):
    from geomap.web import create_app

    from .conftest import https_client, make_user, sign_in

    app = create_app(settings, store)
    user, secret, _ = make_user(store, "researcher")
    return sign_in(https_client(app), user.username, secret)


def _post(c, name, lang="en", **form):
    from .conftest import csrf_from

    token = csrf_from(c.get(f"/import/uwazi/?lang={lang}").data.decode())
    with (DATA / name).open("rb") as fh:
        return c.post("/import/uwazi/", data={"csrf_token": token, "file": (fh, name), **form},
                      content_type="multipart/form-data")


def test_upload_page_imports_and_shows_the_per_row_report(editor, store):
    r = _post(editor, "export_mixed.csv")
    html = r.data.decode()
    assert r.status_code == 200 and "Uwazi CSV, export format" in html
    assert "files are not imported" in html and "not mapped to a geomap field" in html
    assert "unpublished in Uwazi" in html
    assert set(stored_testimonies(store)) == {"SYN-EX-001"}
    r = _post(editor, "import_facilities.csv", lang="ko", dry_run="1")
    html = r.data.decode()
    assert r.status_code == 200 and "Uwazi CSV, 가져오기 형식" in html
    assert "관계 필드는 지원하지 않습니다" in html and "저장될 예정" in html
    assert store.site_by_key("uwazi-synthetic-camp-alpha", SYSTEM) is None  # check only


def test_upload_page_refuses_bad_files_with_a_400(editor, tmp_path):
    from .conftest import csrf_from

    token = csrf_from(editor.get("/import/uwazi/").data.decode())
    with (DATA / "README.md").open("rb") as fh:
        r = editor.post("/import/uwazi/", data={"csrf_token": token, "file": (fh, "x.md")},
                        content_type="multipart/form-data")
    assert r.status_code == 400 and "Unsupported file type" in r.data.decode()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with bad.open("rb") as fh:
        r = editor.post("/import/uwazi/", data={"csrf_token": token, "file": (fh, "bad.json")},
                        content_type="multipart/form-data")
    assert r.status_code == 400 and "not valid JSON" in r.data.decode()
