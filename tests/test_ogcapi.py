"""OGC API - Features Part 1 (issue 15, item 2): the documents, paging, bbox, datetime, the
per-role fields of the JSON API, and OGC exception documents for 400/401/404."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from geomap import ogcapi
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.errors import InvalidInput
from geomap.geojson import SITE_FIELDS, TESTIMONY_CODE_FIELDS, TESTIMONY_MAP_FIELDS
from geomap.policy import SYSTEM
from geomap.web import create_app

from .conftest import https_client, make_user, sign_in


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("ogcapi") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 80, seed=9)
    _annotate(store, settings, tmp_path_factory.mktemp("scenes"))
    yield settings, store
    store.close()


NOTE = "[SYNTHETIC] never leaves through the API"


def _annotate(store, settings, tmp):
    """Two dated scenes with annotations (real GeoTIFFs ingested; the test_annotations way)."""
    from geomap import annotations as ann
    from geomap.policy import Principal, Role

    from .test_annotations import make_scene

    analyst = Principal(None, "ana", Role.ANALYST)
    for i, (when, lon) in enumerate(((date(2012, 6, 1), 127.0), (date(2019, 9, 1), 127.5))):
        scene = make_scene(store, settings, tmp, acquired=when,
                           bounds=(lon - 0.01, 39.99, lon + 0.02, 40.02), name=f"s{i}.tif")
        for k in range(3):
            ann.create(store, analyst, {
                "scene_id": scene.id, "label": "guard_post", "confidence": "medium",
                "note": NOTE, "geometry": {"type": "Point",
                                           "coordinates": [lon + 0.002 * k, 40.0]}})


@pytest.fixture(scope="module")
def app(instance):
    a = create_app(*instance)
    a.config["TESTING"] = True
    return a


def _client(app, role="researcher"):
    user, secret, _ = make_user(app.extensions["geomap_store"], role)
    return sign_in(https_client(app), user.username, secret)


@pytest.fixture(scope="module")
def researcher(app):
    return _client(app)


# -- documents ----------------------------------------------------------------------------------
def test_landing_page_links_what_core_asks_for(researcher):
    for path in ("/ogcapi", "/ogcapi/", "/ogcapi?f=json"):
        r = researcher.get(path)
        assert r.status_code == 200 and r.mimetype == "application/json", path
        rels = {link["rel"]: link for link in r.get_json()["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= set(rels)
        assert rels["service-desc"]["type"] == ogcapi.OPENAPI
        assert all(link["href"].startswith("https://localhost/ogcapi") for link in rels.values())


def test_conformance_lists_core_geojson_and_openapi(researcher):
    doc = researcher.get("/ogcapi/conformance").get_json()
    assert doc["conformsTo"] == list(ogcapi.CONFORMANCE)
    assert any(c.endswith("/conf/core") for c in doc["conformsTo"])
    assert any(c.endswith("/conf/geojson") for c in doc["conformsTo"])
    assert any(c.endswith("/conf/oas30") for c in doc["conformsTo"])


def test_openapi_document_describes_every_path(researcher):
    r = researcher.get("/ogcapi/api")
    assert r.status_code == 200 and r.mimetype == "application/vnd.oai.openapi+json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.0")
    assert {"/", "/conformance", "/collections", "/collections/{collectionId}",
            "/collections/{collectionId}/items",
            "/collections/{collectionId}/items/{featureId}"} <= set(doc["paths"])
    names = {p["name"] for p in doc["paths"]["/collections/{collectionId}/items"]["get"]
             ["parameters"]}
    assert {"bbox", "datetime", "limit", "offset"} <= names


def test_collections_and_one_collection(researcher):
    doc = researcher.get("/ogcapi/collections").get_json()
    ids = [c["id"] for c in doc["collections"]]
    assert ids == ["sites", "testimonies", "boundaries", "annotations"]
    for c in doc["collections"]:
        rels = {link["rel"]: link for link in c["links"]}
        assert rels["items"]["type"] == "application/geo+json"
        minx, miny, maxx, maxy = c["extent"]["spatial"]["bbox"][0]
        assert 124 < minx < maxx < 131 and 37 < miny < maxy < 44  # the country
    one = researcher.get("/ogcapi/collections/testimonies").get_json()
    assert one["id"] == "testimonies" and one["itemType"] == "feature"


# -- items --------------------------------------------------------------------------------------
def test_items_page_through_a_collection_with_next_links(researcher, instance):
    _, store = instance
    url = "/ogcapi/collections/testimonies/items?limit=7"
    seen, pages = [], 0
    matched = None
    while url:
        r = researcher.get(url.replace("https://localhost", ""))
        assert r.status_code == 200 and r.mimetype == "application/geo+json"
        doc = r.get_json()
        assert doc["numberReturned"] == len(doc["features"]) <= 7
        assert doc["timeStamp"].endswith("Z")
        matched = doc["numberMatched"] if matched is None else matched
        assert doc["numberMatched"] == matched
        seen += [f["id"] for f in doc["features"]]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
    assert len(seen) == len(set(seen)) == matched == store.count_testimonies(with_geometry=True)
    assert pages == -(-matched // 7)
    assert r.headers["Cache-Control"].count("no-store")  # testimony points are never cached


def test_default_limit_and_the_largest(researcher):
    doc = researcher.get("/ogcapi/collections/sites/items").get_json()
    q = parse_qs(urlsplit(next(link["href"] for link in doc["links"]
                               if link["rel"] == "self")).query)
    assert q["limit"] == [str(ogcapi.DEFAULT_LIMIT)]
    assert researcher.get(f"/ogcapi/collections/sites/items?limit={ogcapi.MAX_LIMIT}") \
        .status_code == 200


def test_bbox_selects_features_inside(researcher):
    bbox = (126.0, 39.0, 128.0, 41.0)
    arg = ",".join(map(str, bbox))
    for cid in ("sites", "testimonies"):
        doc = researcher.get(f"/ogcapi/collections/{cid}/items?bbox={arg}&limit=1000").get_json()
        everything = researcher.get(f"/ogcapi/collections/{cid}/items?limit=1000").get_json()
        assert 0 < doc["numberMatched"] < everything["numberMatched"], cid
        for f in doc["features"]:
            x, y = f["geometry"]["coordinates"]
            assert bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]
        nxt = [link for link in doc["links"] if link["rel"] == "self"][0]["href"]
        assert "bbox=" in nxt  # links keep the filter
    b = researcher.get(f"/ogcapi/collections/boundaries/items?bbox={arg}").get_json()
    assert 0 < b["numberMatched"] < researcher.get(
        "/ogcapi/collections/boundaries/items").get_json()["numberMatched"]


def test_datetime_instant_interval_and_open_ends_on_testimony_periods(researcher, instance):
    _, store = instance
    from geomap.store import TestimonyFilter

    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM)

    def expected(lo: date | None, hi: date | None) -> int:
        return sum(1 for r in rows if r["period_text"] is not None
                   and _overlaps(store, r["id"], lo, hi))

    base = "/ogcapi/collections/testimonies/items?limit=1000&datetime="
    cases = {"2005-06-01": (date(2005, 6, 1), date(2005, 6, 1)),
             "2005-06-01T12:00:00Z": (date(2005, 6, 1), date(2005, 6, 1)),
             "2000-01-01/2004-12-31": (date(2000, 1, 1), date(2004, 12, 31)),
             "../1998-12-31": (None, date(1998, 12, 31)),
             "2010-01-01/..": (date(2010, 1, 1), None),
             "/1998-12-31": (None, date(1998, 12, 31))}
    counts = set()
    for arg, (lo, hi) in cases.items():
        doc = researcher.get(base + arg).get_json()
        assert doc["numberMatched"] == expected(lo, hi), arg
        counts.add(doc["numberMatched"])
    assert len(counts) > 2  # the filter does select


def _overlaps(store, tid: int, lo, hi) -> bool:
    from sqlalchemy import select

    from geomap.store.schema import testimonies as t

    with store.read() as c:
        r = c.execute(select(t.c.period_start, t.c.period_end).where(t.c.id == tid)).one()
    return (lo is None or r.period_end is None or r.period_end >= lo) and \
        (hi is None or r.period_start is None or r.period_start <= hi)


def test_datetime_on_sites_is_the_operating_period(researcher):
    early = researcher.get("/ogcapi/collections/sites/items?datetime=../1965-01-01").get_json()
    every = researcher.get("/ogcapi/collections/sites/items").get_json()
    assert early["numberMatched"] < every["numberMatched"]
    for f in early["features"]:
        assert f["properties"]["opened"] is None or f["properties"]["opened"] <= 1965


def test_one_item_by_id_and_404s(researcher):
    page = researcher.get("/ogcapi/collections/testimonies/items?limit=1").get_json()
    fid = page["features"][0]["id"]
    one = researcher.get(f"/ogcapi/collections/testimonies/items/{fid}")
    assert one.status_code == 200 and one.mimetype == "application/geo+json"
    assert one.get_json()["id"] == fid and one.get_json()["type"] == "Feature"
    site = researcher.get("/ogcapi/collections/sites/items?limit=1").get_json()["features"][0]
    got = researcher.get(f"/ogcapi/collections/sites/items/{site['id']}").get_json()
    assert got["properties"] == site["properties"]
    b = researcher.get("/ogcapi/collections/boundaries/items?limit=1").get_json()["features"][0]
    assert researcher.get(f"/ogcapi/collections/boundaries/items/{b['id']}").get_json()[
        "properties"]["code"] == b["properties"]["code"]
    for path in ("/ogcapi/collections/nope", "/ogcapi/collections/nope/items",
                 "/ogcapi/collections/testimonies/items/999999999",
                 "/ogcapi/collections/testimonies/items/abc",
                 "/ogcapi/collections/sites/items/no-such-site", "/ogcapi/whatever/else"):
        r = researcher.get(path)
        assert r.status_code == 404 and r.mimetype == "application/json", path
        assert r.get_json()["code"] == "NotFound" and r.get_json()["description"]


@pytest.mark.parametrize("query,parameter", [
    ("bbox=1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox"), ("bbox=130,40,125,38", "bbox"),
    ("datetime=yesterday", "datetime"), ("datetime=2005-13-01", "datetime"),
    ("datetime=../..", "datetime"), ("datetime=2005-01-01/2004-01-01", "datetime"),
    ("datetime=2005-06-01T12:00:00", "datetime"),
    ("limit=0", "limit"), ("limit=10001", "limit"), ("limit=ten", "limit"),
    ("offset=-1", "offset"), ("f=html", "f"), ("colour=red", "colour"),
])
def test_bad_parameters_are_400_with_an_ogc_exception(researcher, query, parameter):
    r = researcher.get(f"/ogcapi/collections/sites/items?{query}")
    assert r.status_code == 400 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["code"] == "InvalidParameterValue" and body["parameter"] == parameter
    assert parameter in body["description"]


def test_signed_out_is_a_401_with_a_challenge(app):
    r = https_client(app).get("/ogcapi/collections")
    assert r.status_code == 401 and r.get_json()["code"] == "NotAuthenticated"
    assert "Bearer" in r.headers["WWW-Authenticate"] and "Basic" in r.headers["WWW-Authenticate"]


# -- what each role sees ------------------------------------------------------------------------
def test_fields_are_the_json_apis_allow_lists(app, researcher):
    site = researcher.get("/ogcapi/collections/sites/items?limit=1").get_json()["features"][0]
    assert set(site["properties"]) == set(SITE_FIELDS)
    t = researcher.get("/ogcapi/collections/testimonies/items?limit=1").get_json()["features"][0]
    assert set(t["properties"]) == set(TESTIMONY_MAP_FIELDS) | set(TESTIMONY_CODE_FIELDS)
    assert t["geometry"]["type"] == "Point"
    viewer = _client(app, "viewer")
    doc = viewer.get("/ogcapi/collections/testimonies/items").get_json()
    assert doc["numberMatched"] == 0  # synthetic testimonies are internal: not for a viewer
    assert viewer.get(f"/ogcapi/collections/testimonies/items/{t['id']}").status_code == 404


def test_no_narrative_is_decrypted_or_read(app, researcher, instance):
    """Items never read a narrative: no narrative.view entry appears in the audit log."""
    _, store = instance
    from sqlalchemy import func, select

    from geomap.store.schema import audit_log

    def reads() -> int:
        with store.read() as c:
            return c.execute(select(func.count()).select_from(audit_log)
                             .where(audit_log.c.action == "narrative.view")).scalar_one()

    before = reads()
    researcher.get("/ogcapi/collections/testimonies/items?limit=1000")
    assert reads() == before


def test_parse_datetime_is_strict():
    assert ogcapi.parse_datetime(None) is None
    p = ogcapi.parse_datetime("2004-05-01T23:30:00+09:00")
    assert p.earliest == p.latest == date(2004, 5, 1)  # 14:30 UTC
    p = ogcapi.parse_datetime("2004-05-01T20:00:00-05:00")
    assert p.earliest == date(2004, 5, 2)  # the UTC day
    for bad in ("", "2004", "2004-05", "1/2/3", "../.."):
        with pytest.raises(InvalidInput):
            ogcapi.parse_datetime(bad)


def test_annotations_by_scene_date_and_bbox_without_notes(app, researcher):
    doc = researcher.get("/ogcapi/collections/annotations/items?limit=2").get_json()
    assert doc["numberMatched"] == 6 and doc["numberReturned"] == 2
    assert any(link["rel"] == "next" for link in doc["links"])
    everything = researcher.get("/ogcapi/collections/annotations/items").get_json()
    assert NOTE not in str(everything) and "note" not in everything["features"][0]["properties"]
    assert {f["properties"]["scene_date"] for f in everything["features"]} == \
        {"2012-06-01", "2019-09-01"}
    late = researcher.get("/ogcapi/collections/annotations/items?datetime=2015-01-01/..")
    assert [f["properties"]["scene_date"] for f in late.get_json()["features"]] == \
        ["2019-09-01"] * 3
    west = researcher.get("/ogcapi/collections/annotations/items?bbox=126.9,39.9,127.003,40.1")
    assert west.get_json()["numberMatched"] == 2  # two of the first scene's three points
    fid = everything["features"][0]["id"]
    one = researcher.get(f"/ogcapi/collections/annotations/items/{fid}").get_json()
    assert one["id"] == fid and one["properties"]["label"] == "guard_post"
    # internal scenes: a viewer sees none of it
    viewer = _client(app, "viewer")
    assert viewer.get("/ogcapi/collections/annotations/items").get_json()["numberMatched"] == 0
    assert viewer.get(f"/ogcapi/collections/annotations/items/{fid}").status_code == 404
