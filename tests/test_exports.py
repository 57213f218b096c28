"""Exports (issue 15, item 1): per-role and per-audience allow-lists, a round trip per format
(export, import into a fresh instance, the same records), KML read by ogrinfo with TimeSpan,
GeoPackage read by pyogrio, CSV with Korean text and a BOM, the audit entry, the web route
(session and API token) and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from shapely.geometry import Point
from sqlalchemy import select

from geomap import exports
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.errors import Forbidden
from geomap.exports import ExportFilters
from geomap.model import Testimony, Tier, Violation, precision_for_radius
from geomap.periods import parse_period
from geomap.policy import SYSTEM, Principal, Role
from geomap.store.schema import audit_log

from .conftest import https_client, make_user, sign_in
from .test_ogcapi import NOTE, _annotate

NARRATIVE = "[SYNTHETIC] 합성 증언: 실제 진술이 아님. <b>escaped</b> & kept"
CODE_PREFIX = "SYN-EXP-"
RESEARCHER = Principal(None, "res", Role.RESEARCHER)
ANALYST = Principal(None, "ana", Role.ANALYST)
VIEWER = Principal(None, "partner", Role.VIEWER)


def _korean_testimonies() -> list[Testimony]:
    """Synthetic testimonies with Korean place names, each tier, and a narrative."""
    out = []
    for i, (tier, place, lon, lat) in enumerate((
            (Tier.INTERNAL, "요덕 수용소 근처", 127.0512345, 39.6612345),
            (Tier.PARTNER, "회령 집결소", 129.7501234, 42.4401234),
            (Tier.PUBLIC, "청진 농포", 129.7201234, 41.8001234))):
        out.append(Testimony(
            witness_code=f"{CODE_PREFIX}{i}", place_text=place, geometry=Point(lon, lat),
            radius_m=500.0 + i, precision=precision_for_radius(500.0 + i), period=parse_period("1998–2001"),
            violations=[Violation("torture"), Violation("forced_labour")],
            interview_date=date(2015, 3, i + 1), narrative=NARRATIVE, tier=tier,
            synthetic=True))
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("exports") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 40, seed=5)
    store.add_testimonies(_korean_testimonies())
    _link_all(store)
    _annotate(store, settings, tmp_path_factory.mktemp("scenes"))
    yield settings, store
    store.close()


def _link_all(store) -> None:
    """The engine's candidates, every one confirmed (so sites have witnesses)."""
    from geomap.corroboration import run_linking
    from geomap.store.links import LinkStore

    run_linking(store, None)
    links = LinkStore(store)
    for link in links.all("candidate"):
        links.decide(link["testimony_id"], link["site_id"], "confirmed", "test")


@pytest.fixture
def fresh(tmp_path, source):
    """A new instance with the source's boundaries (the country the importer checks)."""
    from geomap.config import load_settings
    from geomap.store import Store

    store = Store.for_instance(load_settings(tmp_path / "fresh"))
    store.upsert_boundary_units(source[1].boundary_units())
    yield store
    store.close()


def _write(result: exports.ExportResult, path: Path) -> Path:
    if isinstance(result.data, bytes):
        path.write_bytes(result.data)
    else:
        shutil.move(result.data, path)
    return path


def _all_formats_text(store, viewer, dataset, f: ExportFilters | None = None) -> str:
    """Every format of an export, as text (the GeoPackage read through pyogrio)."""
    import pyogrio

    out = []
    for fmt in exports.FORMATS:
        r = exports.export(store, viewer, dataset, fmt, f)
        if isinstance(r.data, bytes):
            out.append(r.data.decode("utf-8-sig"))
        else:
            try:
                out.append(pyogrio.read_dataframe(r.data).to_json())
            finally:
                r.data.unlink()
    return "\n".join(out)


# -- allow-lists ----------------------------------------------------------------------------------
def test_viewer_never_gets_a_witness_code_or_narrative(source):
    _, store = source
    text = _all_formats_text(store, VIEWER, "testimonies")
    assert "partner" in text and "public" in text  # it does get testimonies, by its tiers
    assert CODE_PREFIX not in text and "SYN-W" not in text
    assert "합성 증언" not in text and "[SYNTHETIC] Generated" not in text
    assert "witness_code" not in text and "narrative" not in text
    assert "internal" not in text  # a partner's reader: partner and public records only
    with pytest.raises(Forbidden):
        exports.export(store, VIEWER, "testimonies", "csv", ExportFilters(with_narratives=True))


def test_partner_audience_gets_viewer_columns_even_from_a_researcher(source):
    _, store = source
    f = ExportFilters(audience=Tier.PARTNER)
    text = _all_formats_text(store, RESEARCHER, "testimonies", f)
    assert CODE_PREFIX not in text and "합성 증언" not in text and "internal" not in text
    with pytest.raises(Forbidden):
        exports.export(store, RESEARCHER, "testimonies", "csv",
                       ExportFilters(audience=Tier.PARTNER, with_narratives=True))


def test_partner_audience_counts_no_internal_testimony(source):
    _, store = source
    part = json.loads(exports.export(store, SYSTEM, "sites", "geojson",
                                     ExportFilters(audience=Tier.PARTNER)).data)
    viewer = json.loads(exports.export(store, VIEWER, "sites", "geojson").data)
    assert part == viewer
    internal = json.loads(exports.export(store, SYSTEM, "sites", "geojson").data)

    def witnesses(doc):
        return sum(f["properties"]["witnesses"] for f in doc["features"])

    assert witnesses(internal) > witnesses(part)  # internal testimonies are not counted


def test_analyst_gets_codes_but_never_narratives(source):
    _, store = source
    assert "witness_code" in exports.columns_for("testimonies", ANALYST, ExportFilters())
    assert "narrative" not in exports.columns_for("testimonies", ANALYST, ExportFilters())
    with pytest.raises(Forbidden):
        exports.columns_for("testimonies", ANALYST, ExportFilters(with_narratives=True))


def test_narratives_only_when_asked(source):
    _, store = source
    plain = exports.export(store, RESEARCHER, "testimonies", "csv").data.decode()
    assert CODE_PREFIX in plain and "합성 증언" not in plain and "narrative" not in plain
    asked = exports.export(store, RESEARCHER, "testimonies", "csv",
                           ExportFilters(with_narratives=True)).data.decode()
    assert "합성 증언" in asked


def test_public_gets_no_testimonies_and_no_links(source):
    _, store = source
    pub = ExportFilters(audience=Tier.PUBLIC)
    for viewer in (SYSTEM, RESEARCHER, VIEWER):
        for dataset in ("testimonies", "links"):
            with pytest.raises(Forbidden):
                exports.export(store, viewer, dataset, "geojson", pub)
    doc = json.loads(exports.export(store, SYSTEM, "sites", "geojson", pub).data)
    assert doc["features"]
    assert {f["properties"]["tier"] for f in doc["features"]} == {"public"}
    assert "witnesses" not in doc["features"][0]["properties"]  # counts of testimonies
    assert "research_note" not in doc["features"][0]["properties"]


def test_every_column_is_in_the_allow_list(source):
    _, store = source
    for dataset in exports.DATASETS:
        for viewer in (SYSTEM, ANALYST, VIEWER):
            cols = exports.columns_for(dataset, viewer, ExportFilters())
            doc = json.loads(exports.export(store, viewer, dataset, "geojson").data)
            for feat in doc["features"]:
                assert tuple(feat["properties"]) == cols


# -- round trips ----------------------------------------------------------------------------------
def _sites(store) -> dict:
    return {s.key: s for s in store.sites(SYSTEM)}


@pytest.mark.parametrize("fmt", list(exports.FORMATS))
def test_sites_round_trip(fmt, source, fresh, tmp_path):
    from geomap.sites import read_facilities

    _, store = source
    path = _write(exports.export(store, SYSTEM, "sites", fmt), tmp_path / f"sites.{fmt}")
    fresh.upsert_sites(read_facilities(path))
    before, after = _sites(store), _sites(fresh)
    assert set(before) == set(after) and len(before) > 10
    for key, a in before.items():
        b = after[key]
        assert (b.name, b.name_ko, b.aliases) == (a.name, a.name_ko, a.aliases), key
        assert (b.facility_type, b.precision, b.authority, b.status, b.confidence) == \
            (a.facility_type, a.precision, a.authority, a.status, a.confidence), key
        assert (b.opened, b.opened_approx, b.closed, b.closed_approx, b.extent_km2, b.note) == \
            (a.opened, a.opened_approx, a.closed, a.closed_approx, a.extent_km2, a.note), key
        assert b.period == a.period, key
        if a.geometry is None:
            assert b.geometry is None, key
        else:
            assert abs(b.geometry.x - a.geometry.x) < 1e-6, key
            assert abs(b.geometry.y - a.geometry.y) < 1e-6, key


def _testimonies(store) -> dict:
    from geomap.store import TestimonyFilter

    rows, _n = store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    out = {}
    for r in rows:
        full = store.testimony(r["id"], SYSTEM)
        out[full["witness_code"], full["place_text"], full["period"]] = full
    return out


@pytest.mark.parametrize("fmt", list(exports.FORMATS))
def test_testimonies_round_trip(fmt, source, fresh, tmp_path):
    from geomap.intake.run import import_testimonies

    _, store = source
    f = ExportFilters(with_narratives=True)
    path = _write(exports.export(store, RESEARCHER, "testimonies", fmt, f),
                  tmp_path / f"testimonies.{fmt}")
    report = import_testimonies(fresh, path, actor="test")
    assert report.as_dict()["quarantined"] == 0, report.lines()
    before, after = _testimonies(store), _testimonies(fresh)
    assert set(before) == set(after) and len(before) == 43
    for k, a in before.items():
        b = after[k]
        for name in ("place_text", "period", "violations", "relationship", "precision",
                     "radius_m", "tier", "interview_date", "narrative"):
            assert b[name] == a[name], (k, name)
        assert (a["lon"] is None) == (b["lon"] is None), k
        if a["lon"] is not None:
            assert abs(b["lon"] - a["lon"]) < 1e-6 and abs(b["lat"] - a["lat"]) < 1e-6, k


# -- the formats as other programs read them ------------------------------------------------------
def test_kml_read_by_ogrinfo_with_timespan(source, tmp_path):
    _, store = source
    path = _write(exports.export(store, SYSTEM, "testimonies", "kml"), tmp_path / "t.kml")
    out = subprocess.run(["ogrinfo", "-ro", "-al", str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert "Feature Count: 43" in out
    assert "begin (DateTime) = 1998/01/01" in out and "end (DateTime) = 2001/12/31" in out
    assert "요덕 수용소 근처" in out
    sites = _write(exports.export(store, SYSTEM, "sites", "kml"), tmp_path / "s.kml")
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(sites)], capture_output=True,
                         text=True, check=True).stdout
    assert "begin (DateTime)" in out


def test_kml_escapes_user_text(source):
    from defusedxml import ElementTree as DET

    _, store = source
    data = exports.export(store, RESEARCHER, "testimonies", "kml",
                          ExportFilters(with_narratives=True)).data
    assert b"<b>escaped</b>" not in data and b"&lt;b&gt;escaped&lt;/b&gt;" in data
    DET.fromstring(data)  # well-formed


def test_gpkg_read_by_pyogrio(source):
    import pyogrio

    _, store = source
    for dataset, n in (("sites", None), ("testimonies", 43), ("boundaries", None)):
        r = exports.export(store, SYSTEM, dataset, "gpkg")
        try:
            info = pyogrio.read_info(r.data)
            df = pyogrio.read_dataframe(r.data)
        finally:
            r.data.unlink()
        assert info["crs"] == "EPSG:4326" and len(df) == r.count
        assert n is None or len(df) == n
        assert list(df.columns)[:-1] == list(exports.columns_for(dataset, SYSTEM,
                                                                 ExportFilters()))


def test_csv_with_korean_text_has_a_bom_and_iso_dates(source):
    import csv
    import io

    _, store = source
    data = exports.export(store, SYSTEM, "testimonies", "csv", ExportFilters(bom=True)).data
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    mine = [r for r in rows if r["witness_code"].startswith(CODE_PREFIX)]
    assert {r["place_text"] for r in mine} == {"요덕 수용소 근처", "회령 집결소", "청진 농포"}
    assert {(r["start"], r["end"]) for r in mine} == {("1998-01-01", "2001-12-31")}
    assert {r["interview_date"] for r in mine} == {"2015-03-01", "2015-03-02", "2015-03-03"}
    assert mine[0]["lon"] == "127.051235" and mine[0]["lat"] == "39.661234"
    assert not exports.export(store, SYSTEM, "sites", "csv").data.startswith(b"\xef\xbb\xbf")


def test_links_and_annotations_export(source):
    _, store = source
    doc = json.loads(exports.export(store, SYSTEM, "links", "geojson").data)
    assert doc["features"]
    assert all(f["geometry"]["type"] == "LineString" for f in doc["features"])
    assert set(doc["features"][0]["properties"]) == set(exports.COLUMNS["links"][Role.ADMIN])
    viewer = json.loads(exports.export(store, VIEWER, "links", "geojson").data)
    assert len(viewer["features"]) < len(doc["features"])  # internal ends left out
    text = _all_formats_text(store, SYSTEM, "annotations")
    assert "guard_post" in text and NOTE not in text  # an analyst's note never leaves
    # on internal scenes: not a partner's
    assert not json.loads(exports.export(store, VIEWER, "annotations", "geojson").data)[
        "features"]
    assert not json.loads(exports.export(store, SYSTEM, "annotations", "geojson",
                                         ExportFilters(audience=Tier.PUBLIC)).data)["features"]
    ann = json.loads(exports.export(store, SYSTEM, "annotations", "geojson").data)
    assert len(ann["features"]) == 6
    kml = exports.export(store, SYSTEM, "annotations", "kml").data
    assert b"<begin>2012-06-01</begin>" in kml and b"<end>2019-09-01</end>" in kml
    csv_text = exports.export(store, SYSTEM, "boundaries", "csv").data.decode()
    assert csv_text.splitlines()[0].endswith(",wkt")
    assert "POLYGON" in csv_text


def test_every_export_is_audited_without_content(source):
    _, store = source
    exports.export(store, RESEARCHER, "testimonies", "kml", ExportFilters(with_narratives=True))
    with store.read() as c:
        row = c.execute(select(audit_log).where(audit_log.c.action == "export")
                        .order_by(audit_log.c.id.desc())).first()
    details = json.loads(row.details) if isinstance(row.details, str) else row.details
    assert row.actor == "res" and row.target == "testimonies"
    assert details["format"] == "kml" and details["count"] == 43 and details["narratives"]
    assert CODE_PREFIX not in str(details) and "합성" not in str(details)


# -- web and CLI ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(source):
    from geomap.web import create_app

    a = create_app(*source)
    a.config["TESTING"] = True
    return a


def test_web_download_by_role(app, source):
    _, store = source
    user, secret, _ = make_user(store, "researcher")
    c = sign_in(https_client(app), user.username, secret)
    r = c.get("/exports/testimonies.csv?narratives=1&bom=1")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf") and "합성 증언" in r.data.decode("utf-8-sig")
    r = c.get("/exports/sites.gpkg")
    assert r.status_code == 200 and r.data.startswith(b"SQLite format 3")
    assert c.get("/exports/testimonies.csv?audience=public").status_code == 403
    assert c.get("/exports/testimonies.csv?audience=nobody").status_code == 400
    assert c.get("/exports/testimonies.csv?color=red").status_code == 400
    assert c.get("/exports/secrets.csv").status_code == 404
    assert c.get("/exports/sites.shp").status_code == 404
    r = c.get("/exports/?dataset=sites&format=kml&audience=partner")
    assert r.status_code == 302 and r.headers["Location"].endswith(
        "/exports/sites.kml?audience=partner")

    viewer, vsecret, _ = make_user(store, "viewer")
    v = sign_in(https_client(app), viewer.username, vsecret)
    r = v.get("/exports/testimonies.geojson")
    assert r.status_code == 200 and CODE_PREFIX.encode() not in r.data
    assert v.get("/exports/testimonies.csv?narratives=1").status_code == 403
    assert https_client(app).get("/exports/sites.csv").status_code in (302, 401)


def test_web_download_with_an_api_token(app, source):
    from geomap import tokens
    from geomap.store.tokens import TokenStore

    _, store = source
    user, _secret, _ = make_user(store, "viewer")
    issued = tokens.issue(TokenStore(store), user, "qgis")
    r = https_client(app).get("/exports/sites.geojson",
                              headers={"Authorization": f"Bearer {issued.token}"})
    assert r.status_code == 200 and json.loads(r.data)["features"]


def test_cli_export(source, tmp_path):
    from click.testing import CliRunner

    from geomap.cli import main

    settings, _store = source
    out = tmp_path / "out" / "t.gpkg"
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "export",
                                  "testimonies", "--format", "gpkg", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "43 testimonies" in r.output and out.read_bytes().startswith(b"SQLite format 3")
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "export",
                                  "testimonies", "--format", "csv", "--out", str(out),
                                  "--tier", "public"])
    assert r.exit_code == 2 and "public" in r.output


def test_a_damaged_geopackage_is_refused_by_name(tmp_path):
    from geomap.errors import InvalidInput
    from geomap.intake.readers import read_rows

    for i, data in enumerate((b"not a database", b"SQLite format 3\x00" + b"\x07" * 500)):
        p = tmp_path / f"bad{i}.gpkg"
        p.write_bytes(data)
        with pytest.raises(InvalidInput, match=f"bad{i}.gpkg"):
            list(read_rows(p))
