"""Site facts of the structured public list (data/sites/facilities.csv + facility_sources.csv):
per-site precision, extent, operating years, authority, status, confidence, a public note, a
staff-only research note and citations; and instances that imported the older raw list."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from geomap.config import DATA_DIR
from geomap.demo import FACILITIES_CSV
from geomap.model import Authority, Citation, Confidence, Precision, SiteStatus
from geomap.policy import SYSTEM
from geomap.sites import LEGACY_KEYS, read_facilities, site_key
from geomap.store import Store

RAW_CSV = DATA_DIR / "sites" / "facilities_public.csv"


def _by_key(sites):
    return {s.key: s for s in sites}


def test_camp_15_has_its_own_precision_extent_and_years():
    sites = _by_key(read_facilities(FACILITIES_CSV))
    yodok = sites["kwalliso-15-yodok"]
    assert (yodok.precision, yodok.extent_km2) == (Precision.AREA, 378.0)
    assert (yodok.opened, yodok.opened_approx, yodok.closed, yodok.closed_approx) == \
        (1970, True, 2014, False)
    assert yodok.status == SiteStatus.CLOSED and yodok.confidence == Confidence.MEDIUM
    assert yodok.years_text == "c. 1970–2014"
    # the linking engine reads the period: c. 1970 widens like a testimony's "c. 1970"
    assert (yodok.period.earliest, yodok.period.latest) == (date(1968, 1, 1), date(2014, 12, 31))
    # not every camp is "within 10 km": Camp 25's point is good to about 1 km
    camp25 = sites["kwalliso-25-chongjin"]
    assert camp25.precision == Precision.LOCALITY and camp25.extent_km2 == pytest.approx(1.01)
    # a camp that closed with no known opening year still has a period for overlap
    assert sites["kwalliso-11-kyongsong"].period.latest == date(1989, 12, 31)
    assert sites["kwalliso-11-kyongsong"].period.earliest is None


def test_mss_and_mps_centres_of_onsong_carry_their_authority(ref_store):
    mss = ref_store.site_by_key("kuryujang-onsong-mss", SYSTEM)
    mps = ref_store.site_by_key("kuryujang-onsong-mps", SYSTEM)
    assert (mss.authority, mps.authority) == (Authority.MSS, Authority.MPS)
    assert mss.geometry.distance(mps.geometry) < 0.001  # twins: authority tells them apart
    assert ref_store.site_by_key("kwalliso-18-pukchang", SYSTEM).authority == Authority.MPS
    assert ref_store.site_by_key("kwalliso-15-yodok", SYSTEM).authority is None


def test_every_fact_and_citation_survives_the_store(ref_store):
    stored = _by_key(ref_store.sites(SYSTEM))
    for s in read_facilities(FACILITIES_CSV):
        got = stored[s.key]
        for f in ("name_ko", "name_ko_composed", "authority", "precision", "extent_km2",
                  "opened", "opened_approx", "closed", "closed_approx", "status", "confidence",
                  "note", "research_note", "citations"):
            assert getattr(got, f) == getattr(s, f), (s.key, f)
    with (DATA_DIR / "sites" / "facility_sources.csv").open(encoding="utf-8") as fh:
        assert sum(len(s.citations) for s in stored.values()) == len(list(csv.DictReader(fh)))
    kaechon = stored["kwalliso-14-kaechon"].citations
    nkew = next(c for c in kaechon if c.publisher == "North Korean Economy Watch")
    assert nkew.url.startswith("https://nkeconwatch.com/") and nkew.date == "2016-09-29"
    assert nkew.supports == ["location"]
    assert [c.point_source for c in kaechon].count(True) == 1


def test_reimporting_the_list_stores_each_citation_once(ref_store):
    from geomap.demo import load_reference_data

    before = sum(len(s.citations) for s in ref_store.sites(SYSTEM))
    load_reference_data(ref_store)
    assert sum(len(s.citations) for s in ref_store.sites(SYSTEM)) == before
    assert ref_store.stats(SYSTEM)["sites"] == 30


def test_every_raw_list_key_maps_to_the_same_facility_in_the_structured_list():
    with RAW_CSV.open(encoding="utf-8") as fh:
        old = [site_key(r["name"]) for r in csv.DictReader(fh)]
    new = read_facilities(FACILITIES_CSV)
    assert dict(zip(old, (s.key for s in new), strict=True)) == LEGACY_KEYS
    # the raw list is still read, under the new keys
    assert [s.key for s in read_facilities(RAW_CSV)] == [s.key for s in new]


def _old_instance(settings):
    """A database at revision 0010 holding the sites as the raw list stored them, a
    testimony, and a confirmed link from it to Camp 15."""
    from sqlalchemy import create_engine

    from geomap.store import engine as store_engine

    engine = create_engine(settings.database_url)
    store_engine.upgrade(engine, "0010")
    with RAW_CSV.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with engine.begin() as conn:
        for i, r in enumerate(rows, start=1):
            conn.exec_driver_sql(
                "INSERT INTO sites (id, key, name, aliases, facility_type, location_status, "
                "precision, status_note, precision_note, sources, tier, admin1_outside) "
                "VALUES (?, ?, ?, '[]', 'other', 'reported', 'area', ?, ?, ?, 'public', 0)",
                (i, site_key(r["name"]), r["name"], r["status_period"], r["precision_note"],
                 r["source"]))
        conn.exec_driver_sql(
            "INSERT INTO testimonies (id, key, tier, synthetic, admin1_outside, violations, "
            "location_source) VALUES (1, 'k1', 'internal', 0, 0, '', 'reported')")
        yodok_id = conn.exec_driver_sql(
            "SELECT id FROM sites WHERE key = 'kwan-li-so-no-15-yodok-camp-15'").scalar()
        conn.exec_driver_sql(
            "INSERT INTO links (testimony_id, site_id, score, evidence, status, decided_by, "
            "engine) VALUES (1, ?, 0.9, '{}', 'confirmed', 'alice', 'test')", (yodok_id,))
    engine.dispose()
    return yodok_id


@pytest.mark.sqlite_only(reason="tampers through SQLite SQL")
def test_upgrading_an_instance_with_the_old_list_keeps_links_on_the_same_site(settings):
    from geomap.demo import load_reference_data
    from geomap.store.links import LinkStore

    yodok_id = _old_instance(settings)
    store = Store.for_instance(settings)  # upgrades in place
    try:
        assert store.site_by_key("kwalliso-15-yodok", SYSTEM).id == yodok_id
        [link] = LinkStore(store).all("confirmed")
        assert (link["site_id"], link["site_key"]) == (yodok_id, "kwalliso-15-yodok")
        load_reference_data(store)  # what `geomap init` / `sites import-public` do
        assert store.stats(SYSTEM)["sites"] == 30  # updated in place, none added
        yodok = store.site_by_key("kwalliso-15-yodok", SYSTEM)
        assert yodok.id == yodok_id and yodok.extent_km2 == 378.0 and yodok.citations
        assert yodok.status_note is None and yodok.sources is None  # raw text replaced
        [link] = LinkStore(store).all("confirmed")
        assert link["site_id"] == yodok_id and link["decided_by"] == "alice"
    finally:
        store.close()


def test_import_public_moves_a_site_stored_under_an_old_key_onto_the_new_one(settings):
    """Rows the migration did not rename (sites an older build imported after the upgrade)
    are put right by `geomap sites import-public`, keeping their ids."""
    from click.testing import CliRunner

    from geomap.cli import main

    store = Store.for_instance(settings)
    old = read_facilities(RAW_CSV)[1]
    old.key = "kwan-li-so-no-15-yodok-camp-15"
    store.upsert_sites([old])
    store.close()
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "sites",
                                  "import-public"], catch_exceptions=False)
    assert r.exit_code == 0 and "29 sites inserted, 1 updated" in r.output
    store = Store.for_instance(settings)
    try:
        assert store.site_by_key("kwalliso-15-yodok", SYSTEM).id == old.id
        assert store.site_by_key("kwan-li-so-no-15-yodok-camp-15", SYSTEM) is None
    finally:
        store.close()


def test_research_notes_are_never_on_the_api_or_the_map(client):
    from geomap.geojson import SITE_FIELDS

    assert "research_note" not in SITE_FIELDS and "precision_note" not in SITE_FIELDS
    sites = read_facilities(FACILITIES_CSV)
    body = client.get("/api/sites").data.decode()
    doc = json.loads(body)
    props = {f["properties"]["key"]: f["properties"] for f in doc["features"]}
    assert props["kwalliso-15-yodok"]["note"].startswith("Point marks the Pyongchang-ri")
    assert props["kuryujang-onsong-mss"]["authority"] == "MSS"
    for s in sites:
        assert s.research_note not in body
        for c in s.citations:
            assert not c.detail or c.detail not in body
            assert not c.accessed_via or c.accessed_via not in body
    page = client.get("/").data.decode()
    assert "research_note" not in page and "Location: " not in page


def test_dossier_shows_the_research_note_only_to_staff(demo_app):
    from .conftest import https_client, make_user, sign_in

    store = demo_app.extensions["geomap_store"]
    yodok = store.site_by_key("kwalliso-15-yodok", SYSTEM)
    pages = {}
    for role in ("researcher", "viewer", "analyst"):
        user, secret, _ = make_user(store, role)
        c = sign_in(https_client(demo_app), user.username, secret)
        pages[role] = c.get("/sites/kwalliso-15-yodok").data.decode()
    from markupsafe import escape

    note = str(escape(yodok.research_note))
    assert note in pages["researcher"] and "gm-research-note" in pages["researcher"]
    for role in ("viewer", "analyst"):
        assert note not in pages[role] and "gm-research-note" not in pages[role]
        assert str(escape(yodok.note)) in pages[role]
    html = pages["viewer"]
    assert "요덕 제15호 관리소" in html and "c. 1970–2014" in html and "378" in html
    assert 'class="gm-citations"' in html


def test_an_old_dossier_address_leads_to_the_same_site(client):
    r = client.get("/sites/kwan-li-so-no-15-yodok-camp-15")
    assert r.status_code == 301 and r.headers["Location"].endswith("/sites/kwalliso-15-yodok")


def test_citations_are_shown_as_text_with_safe_links(ref_store, settings):
    from geomap.web import create_app

    from .conftest import https_client, make_user, sign_in

    site = ref_store.site_by_key("kwalliso-15-yodok", SYSTEM)
    site.note = "<b>bold</b> note"
    site.citations = [
        Citation("<script>alert(1)</script>", title="Evil <img src=x>",
                 url="javascript:alert(1)", supports=["location"]),
        Citation("HRNK", title="A report", url="https://www.hrnk.org/r.pdf", date="2015",
                 supports=["location", "status"], accessed_via="mirror <i>x</i>"),
        Citation("NK News", title="Plain http", url="http://example.org/a"),
    ]
    ref_store.upsert_sites([site])
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "viewer")
    c = sign_in(https_client(app), user.username, secret)
    html = c.get("/sites/kwalliso-15-yodok").data.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Evil &lt;img src=x&gt;" in html and "&lt;b&gt;bold&lt;/b&gt; note" in html
    assert "javascript:" not in html and "http://example.org" not in html
    assert ('<a href="https://www.hrnk.org/r.pdf" rel="noopener noreferrer nofollow">'
            'A report</a>') in html
    assert "mirror &lt;i&gt;x&lt;/i&gt;" in html


def test_the_linking_engine_reads_each_sites_operating_years_and_precision(ref_store):
    from geomap.corroboration import site_refs

    refs = {r.key: r for r in site_refs(ref_store.sites(SYSTEM))}
    yodok = refs["kwalliso-15-yodok"]
    # c. 1970 to 2014: the approximate opening year widens the slack the period factor allows
    assert (yodok.start, yodok.end) == (date(1970, 1, 1), date(2014, 12, 31))
    assert yodok.start_approx and not yodok.end_approx
    assert yodok.extent_m == pytest.approx(10_970, rel=0.01)  # 378 km2
    assert refs["kwalliso-25-chongjin"].radius_m == 1_000.0  # locality, not the 10 km of "area"
    assert refs["kwalliso-14-kaechon"].end is None  # still operating: open end
