"""Publications (issue 14, item 1): compose, publish (a snapshot computed once from
allow-lists), unpublish, versions, the audit trail and who may publish; deterministic
redaction (grid cell centres, county centroids, cells under the minimum absent). Both backends.
The planted world here is also the leak hunter's (tests/test_leak_hunter.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
from shapely.geometry import Point, box
from sqlalchemy import select

from geomap import publications as pubs
from geomap.errors import Conflict, Forbidden, InvalidInput
from geomap.model import (
    BoundaryUnit,
    FacilityType,
    Precision,
    Site,
    Testimony,
    Tier,
    precision_for_radius,
)
from geomap.periods import parse_period
from geomap.policy import SYSTEM, Principal, Role
from geomap.store import TestimonyFilter
from geomap.store.schema import audit_log

from .conftest import solid_geotiff

RESEARCHER = Principal(None, "res", Role.RESEARCHER)
ANALYST = Principal(None, "ana", Role.ANALYST)
VIEWER = Principal(None, "partner", Role.VIEWER)

# -- the planted world: secrets that must never reach a public byte ------------------------------
ALPHA = (127.0512347, 40.0123459)   # a public camp
BETA = (127.4123457, 40.1012347)    # a public prison
HIDDEN_NAME = "Zephyrquartz Hidden Annex"  # an internal-tier site
HIDDEN = (127.2234567, 40.1534567)
RESEARCH_NOTE = "RESEARCHNOTE-Xq7 staff only"
# testimony points, distinctive to 7 decimals
POINTS = [(127.0611137 + 0.0011 * i, 40.0317713 + 0.0007 * i) for i in range(6)] + \
         [(127.4237771, 40.1171933), (127.4241113, 40.1181177)]
CODES = [f"WCODE-LEAK-{i:02d}" for i in range(len(POINTS))]
NARRATIVES = [f"NARRATIVE-LEAK-{i:02d} synthetic statement" for i in range(len(POINTS))]
PLACES = [f"INTERVIEWPLACE-LEAK-{i:02d}" for i in range(len(POINTS))]
COUNTY_A = box(126.9, 39.9, 127.3, 40.2)
COUNTY_B = box(127.3, 39.9, 127.7, 40.2)


def secrets_of_world() -> list[str]:
    """Every string whose presence in a public byte is a leak: codes, narratives, interview
    places, the internal site's name and point, the staff note, and every testimony point
    at several roundings (cells and sites must never be them)."""
    out = [*CODES, *NARRATIVES, *PLACES, HIDDEN_NAME, "Zephyrquartz", RESEARCH_NOTE,
           "RESEARCHNOTE-Xq7"]
    for lon, lat in [*POINTS, HIDDEN]:
        for nd in (7, 6, 5, 4):
            out += [f"{lon:.{nd}f}", f"{lat:.{nd}f}"]
    return sorted(set(out))


def plant(store, settings, tmp_path) -> dict:
    """Counties, public and internal sites, synthetic testimonies with secrets, confirmed
    links, and a public scene with an open licence carrying a public annotation."""
    from geomap import annotations as ann
    from geomap.imagery import ingest
    from geomap.store.links import LinkStore
    from geomap.store.scenes import SceneStore

    store.upsert_boundary_units([
        BoundaryUnit(0, "T0", "Testland", None, box(126.0, 39.0, 128.5, 41.0)),
        BoundaryUnit(2, "T-A", "County A", "가군", COUNTY_A),
        BoundaryUnit(2, "T-B", "County B", "나군", COUNTY_B)])
    alpha = Site(key="syn-alpha", name="Synthetic camp Alpha", name_ko="합성 수용소 알파",
                 facility_type=FacilityType.KWALLISO, geometry=Point(*ALPHA),
                 precision=Precision.VICINITY, tier=Tier.PUBLIC, research_note=RESEARCH_NOTE)
    beta = Site(key="syn-beta", name="Synthetic prison Beta", facility_type=FacilityType.KYOHWASO,
                geometry=Point(*BETA), precision=Precision.VICINITY, tier=Tier.PUBLIC)
    hidden = Site(key="syn-hidden", name=HIDDEN_NAME, facility_type=FacilityType.KWALLISO,
                  geometry=Point(*HIDDEN), precision=Precision.EXACT, tier=Tier.INTERNAL)
    store.upsert_sites([alpha, beta, hidden])
    store.add_testimonies([Testimony(
        witness_code=CODES[i], place_text=PLACES[i], geometry=Point(*p), radius_m=50.0,
        precision=precision_for_radius(50.0), period=parse_period("1998"),
        narrative=NARRATIVES[i], interview_date=date(2015, 3, 1),
        tier=Tier.INTERNAL, synthetic=True) for i, p in enumerate(POINTS)])
    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM)
    links = LinkStore(store)
    for r in rows:
        i = CODES.index(r["witness_code"])
        site = alpha if i < 6 else hidden
        links.decide(r["id"], site.id, "confirmed", "test")
    tif = solid_geotiff(tmp_path / "pub.tif", (127.0, 39.99, 127.06, 40.03), 0)
    scene = ingest(tif, settings.instance_path / "imagery", date(2019, 9, 1), actor="t",
                   sensor="TestSat-1", provider="Synthetic imagery provider",
                   licence="CC-BY-4.0", tier=Tier.PUBLIC)
    SceneStore(store).add(scene, actor="t")
    closed = ingest(solid_geotiff(tmp_path / "closed.tif", (127.0, 39.99, 127.06, 40.03), 1),
                    settings.instance_path / "imagery", date(2020, 1, 1), actor="t",
                    sensor="TestSat-1", licence="All rights reserved", tier=Tier.PUBLIC)
    SceneStore(store).add(closed, actor="t")
    ann.create(store, ANALYST, {
        "scene_id": scene.id, "label": "guard_post", "confidence": "medium",
        "note": "ANNOTATIONNOTE-LEAK witness said", "site_id": alpha.id,
        "geometry": {"type": "Point", "coordinates": [127.0301, 40.0101]}})
    return {"scene": scene.id, "closed_scene": closed.id, "alpha": alpha, "beta": beta,
            "hidden": hidden}


FULL = {"title": "Synthetic public map", "text": "Counts only.", "lang": "en",
        "layers": "sites cells annotations", "witness_counts": "1", "counts": "grid",
        "cell_km": "10", "min_count": "5", "allowed_origins": "https://example.org"}


@pytest.fixture
def world(store, settings, tmp_path):
    return plant(store, settings, tmp_path)


def _publish(store, slug, **overrides):
    rec = pubs.create(store, RESEARCHER, slug, {**FULL, **overrides})
    pubs.publish(store, RESEARCHER, rec.id)
    return rec, pubs.get_published(store, slug)


# -- compose ------------------------------------------------------------------------------------
def test_compose_validates_each_field_by_name(store, world):
    ok = pubs.compose(store, RESEARCHER, {**FULL, "scene_ids": world["scene"]})
    assert ok["scene_ids"] == [world["scene"]] and ok["min_count"] == 5
    assert ok["allowed_origins"] == ["https://example.org"]
    for field, value in (("title", ""), ("lang", "fr"), ("site_precision", "fuzzy"),
                         ("counts", "points"), ("min_count", "1"), ("cell_km", "0.01"),
                         ("allowed_origins", "http://example.org"),
                         ("allowed_origins", "https://example.org/path"),
                         ("allowed_origins", "https://*.example.org"),
                         ("site_keys", "syn-hidden"), ("facility_types", "castle"),
                         ("scene_ids", world["closed_scene"]), ("period", "sometime")):
        with pytest.raises(InvalidInput) as e:
            pubs.compose(store, RESEARCHER, {**FULL, field: value})
        assert e.value.field == field, (field, value)


def test_only_publishers_may_compose_or_publish(store, world):
    for who in (ANALYST, VIEWER):
        with pytest.raises(Forbidden):
            pubs.create(store, who, "nope", FULL)
    rec = pubs.create(store, RESEARCHER, "allowed", FULL)
    with pytest.raises(Forbidden):
        pubs.publish(store, VIEWER, rec.id)
    with pytest.raises(Conflict):
        pubs.create(store, RESEARCHER, "allowed", FULL)
    with pytest.raises(InvalidInput):
        pubs.create(store, RESEARCHER, "Bad Slug!", FULL)


# -- publish, versions, unpublish, audit ----------------------------------------------------------
def test_publish_versions_unpublish_and_the_audit_trail(store, world):
    rec, snap = _publish(store, "trail")
    assert snap["version"] == 1 and snap["slug"] == "trail" and snap["min_count"] == 5
    assert set(snap) == {"slug", "version", "title", "text", "lang", "published_at", "bounds",
                         "precision", "sites", "cells", "scenes", "annotations",
                         "allowed_origins", "min_count"}
    pubs.edit(store, RESEARCHER, rec.id, {**FULL, "title": "Second title"})
    assert pubs.get_published(store, "trail")["title"] == FULL["title"]  # draft: not live yet
    assert pubs.publish(store, RESEARCHER, rec.id) == 2
    assert pubs.get_published(store, "trail")["title"] == "Second title"
    vs = pubs.versions(store, RESEARCHER, rec.id)
    assert [v.version for v in vs] == [2, 1]
    assert vs[1].unpublished_at is not None and vs[0].unpublished_at is None
    pubs.unpublish(store, RESEARCHER, rec.id)
    assert pubs.get_published(store, "trail") is None
    assert pubs.get(store, RESEARCHER, rec.id).state == "unpublished"
    with pytest.raises(Conflict):
        pubs.unpublish(store, RESEARCHER, rec.id)
    with store.read() as c:
        entries = c.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.details)
                            .where(audit_log.c.action.like("publication.%"))
                            .order_by(audit_log.c.id)).all()
    assert [e.action for e in entries] == ["publication.create", "publication.publish",
                                           "publication.edit", "publication.publish",
                                           "publication.unpublish"]
    assert all(e.actor == "res" for e in entries)
    assert json.loads(entries[3].details)["version"] == 2
    assert json.loads(entries[2].details)["changed"] == ["title"]
    assert pubs.get_published(store, "no-such") is None
    assert pubs.get_published(store, "../etc") is None


def test_snapshot_is_stored_not_recomputed(store, world):
    _, snap = _publish(store, "frozen")
    store.upsert_sites([Site(key="syn-late", name="Added after publishing",
                             facility_type=FacilityType.KWALLISO, geometry=Point(127.1, 40.1),
                             precision=Precision.EXACT, tier=Tier.PUBLIC)])
    assert pubs.get_published(store, "frozen") == snap


# -- redaction ----------------------------------------------------------------------------------
def test_internal_sites_never_appear_and_public_ones_are_exact_on_the_facility_list(store, world):
    _, snap = _publish(store, "facilities", site_precision="exact")
    names = {f["properties"]["name"] for f in snap["sites"]["features"]}
    assert names == {"Synthetic camp Alpha", "Synthetic prison Beta"}
    alpha = next(f for f in snap["sites"]["features"] if f["properties"]["name"].endswith("Alpha"))
    assert alpha["geometry"]["coordinates"] == [round(ALPHA[0], 5), round(ALPHA[1], 5)]
    assert set(alpha["properties"]) == {"name", "name_ko", "facility_type", "placement",
                                        "witnesses"}
    assert alpha["properties"]["witnesses"] == 6  # six confirmed witnesses, >= min_count
    beta = next(f for f in snap["sites"]["features"] if f["properties"]["name"].endswith("Beta"))
    assert "witnesses" not in beta["properties"]  # none, under the minimum: left out


def test_a_site_on_a_grid_is_at_its_cell_centre(store, world):
    _, snap = _publish(store, "gridded", site_precision="grid", site_grid_km="10")
    for f in snap["sites"]["features"]:
        lon, lat = f["geometry"]["coordinates"]
        row, col = pubs.grid_cell(lon, lat, 10.0)
        minx, miny, maxx, maxy = pubs.cell_box(row, col, 10.0)
        assert (lon, lat) == (pytest.approx((minx + maxx) / 2), pytest.approx((miny + maxy) / 2))
        assert f["properties"]["placement"] == "grid"
    alpha = next(f for f in snap["sites"]["features"] if f["properties"]["name"].endswith("Alpha"))
    assert list(pubs.snap_to_grid(*ALPHA, 10.0)) == alpha["geometry"]["coordinates"]
    assert Point(*alpha["geometry"]["coordinates"]).distance(Point(*ALPHA)) > 0.001


def test_a_site_on_a_county_is_at_its_centroid(store, world):
    _, snap = _publish(store, "counties", site_precision="county", counts="county")
    coords = {f["properties"]["name"]: f["geometry"]["coordinates"]
              for f in snap["sites"]["features"]}
    c = COUNTY_A.centroid
    assert coords["Synthetic camp Alpha"] == [round(c.x, 6), round(c.y, 6)]
    # six testimonies in county A (>= 5), two in county B: B's cell is absent
    assert [f["properties"]["count"] for f in snap["cells"]["features"]] == [6]


def test_cells_under_the_minimum_are_absent_and_carry_only_a_count(store, world):
    _, snap = _publish(store, "cells", counts="grid", cell_km="10")
    counts = [f["properties"]["count"] for f in snap["cells"]["features"]]
    assert counts == [6]  # the two testimonies near Beta are under 5: no cell
    assert all(set(f["properties"]) == {"count"} for f in snap["cells"]["features"])
    _, snap3 = _publish(store, "cells-low", counts="grid", cell_km="10", min_count="2")
    assert sorted(f["properties"]["count"] for f in snap3["cells"]["features"]) == [2, 6]


def test_snapping_is_deterministic_across_publishes_and_processes(store, world):
    rec, first = _publish(store, "same", site_precision="grid", site_grid_km="7.5")
    pubs.publish(store, RESEARCHER, rec.id)
    second = pubs.get_published(store, "same")
    keep = ("sites", "cells", "bounds", "annotations")
    assert {k: first[k] for k in keep} == {k: second[k] for k in keep}
    code = ("from geomap.publications import snap_to_grid, cell_box, grid_cell;"
            f"print(snap_to_grid({ALPHA[0]}, {ALPHA[1]}, 7.5), "
            f"cell_box(*grid_cell({POINTS[0][0]}, {POINTS[0][1]}, 10.0), 10.0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == f"{pubs.snap_to_grid(*ALPHA, 7.5)} " \
                  f"{pubs.cell_box(*pubs.grid_cell(*POINTS[0], 10.0), 10.0)}"


def test_scenes_need_a_public_tier_and_an_open_licence(store, world):
    _, snap = _publish(store, "imagery", scene_ids=world["scene"])
    assert snap["scenes"] == [{"id": world["scene"], "acquired": "2019-09-01",
                               "sensor": "TestSat-1", "attribution": "Synthetic imagery provider",
                               "licence": "CC-BY-4.0", "tiles": True}]
    (a,) = snap["annotations"]["features"]
    assert a["properties"] == {"label": "guard_post", "label_text": "Guard post or tower",
                               "scene_date": "2019-09-01"}
    _, ko = _publish(store, "imagery-ko", scene_ids=world["scene"], lang="ko")
    assert ko["annotations"]["features"][0]["properties"]["label_text"] != "Guard post or tower"


# -- the staff pages --------------------------------------------------------------------------
@pytest.fixture
def web(store, settings, world):
    from geomap.web import create_app

    from .conftest import https_client, make_user, sign_in

    app = create_app(settings, store)
    app.config["TESTING"] = True

    def client(role):
        user, secret, _ = make_user(store, role)
        return sign_in(https_client(app), user.username, secret)
    return client


def _csrf(client, url):
    from .conftest import csrf_from

    return csrf_from(client.get(url).get_data(as_text=True))


def test_pages_compose_publish_and_unpublish(web, store, world):
    c = web("researcher")
    page = c.get("/publications?lang=ko")
    assert page.status_code == 200 and "새 공개 지도" in page.get_data(as_text=True)
    token = _csrf(c, "/publications")
    form = {**FULL, "csrf_token": token, "slug": "from-the-form",
            "layers": ["sites", "cells"], "scene_ids": [world["scene"]],
            "allowed_origins": "https://example.org\nhttps://news.example.net"}
    r = c.post("/publications", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    edit = r.headers["Location"]
    html = c.get(edit).get_data(as_text=True)
    assert "Synthetic public map" in html and "preview.json" in html
    prev = c.get(edit + "/preview.json").get_json()
    assert prev["version"] == 0 and prev["allowed_origins"] == ["https://example.org",
                                                                "https://news.example.net"]
    assert pubs.get_published(store, "from-the-form") is None  # a draft is not public
    assert c.post(edit + "/publish", data={"csrf_token": token}).status_code == 302
    assert pubs.get_published(store, "from-the-form")["version"] == 1
    assert "/p/from-the-form" in c.get(edit).get_data(as_text=True)
    bad = c.post(edit, data={**form, "allowed_origins": "http://insecure.example"})
    assert bad.status_code == 400 and "https" in bad.get_data(as_text=True)
    assert c.post(edit + "/unpublish", data={"csrf_token": token}).status_code == 302
    assert pubs.get_published(store, "from-the-form") is None
    assert c.get("/p/from-the-form").status_code == 404


def test_pages_are_for_publishers_only(web):
    for role in ("analyst", "viewer"):
        c = web(role)
        assert c.get("/publications").status_code == 404, role
