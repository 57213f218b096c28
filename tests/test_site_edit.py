"""Adding and editing sites by hand (geomap.site_edit and the /sites/new, /sites/<key>/edit
pages): checks that name the field, one audited transaction with before/after of what changed,
the perimeter's area as the extent, and user text shown as text."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from geomap.errors import NotFound
from geomap.model import Precision
from geomap.policy import SYSTEM
from geomap.site_edit import (
    SiteFormError,
    area_km2,
    create_site,
    form_fields,
    parse_perimeter,
    update_site,
    validate_site_form,
)
from geomap.store.schema import audit_log, sites
from tests.conftest import csrf_from, https_client, make_user, sign_in

# a square of about 1.7 x 2.2 km around (40.10 N, 127.20 E)
SQUARE = {"type": "Polygon", "coordinates": [[[127.19, 40.09], [127.21, 40.09], [127.21, 40.11],
                                              [127.19, 40.11], [127.19, 40.09]]]}
BASE = {"name": "Test camp", "facility_type": "kyohwaso", "precision": "locality",
        "tier": "internal", "lat": "40.1", "lon": "127.2"}


def _audit(store, action=None):
    with store.read() as conn:
        q = select(audit_log).order_by(audit_log.c.id)
        if action:
            q = q.where(audit_log.c.action == action)
        return [(r.action, r.target, json.loads(r.details)) for r in conn.execute(q)]


def _count_sites(store):
    with store.read() as conn:
        return len(conn.execute(select(sites.c.id)).all())


# -- library ------------------------------------------------------------------------------------
def test_create_writes_the_site_and_one_audit_entry(store):
    s = create_site(store, {**BASE, "name_ko": "시험 교화소", "aliases": "Camp X\n\nCamp X\nX-ri",
                            "perimeter": json.dumps(SQUARE),
                            "citations": [{"publisher": "HRNK", "url": "https://example.org/a",
                                           "supports": ["location", "name"]}, {}]}, "alice")
    assert s.key == "test-camp"
    got = store.site_by_key("test-camp", SYSTEM)
    assert got.name_ko == "시험 교화소" and got.aliases == ["Camp X", "X-ri"]
    assert got.geometry.x == pytest.approx(127.2) and got.perimeter.geom_type == "Polygon"
    assert [c.publisher for c in got.citations] == ["HRNK"]
    assert got.citations[0].supports == ["location", "name"]
    # the point is in the spatial index: a bbox query finds it
    assert store.ids_intersecting("sites", (127.1, 40.0, 127.3, 40.2)) == [got.id]
    [(action, target, details)] = _audit(store, "site.create")
    assert (action, target) == ("site.create", "test-camp")
    assert details["before"] == {}
    assert details["after"]["name"] == "Test camp"
    assert details["after"]["point"] == {"type": "Point", "coordinates": [127.2, 40.1]}
    assert details["after"]["perimeter"]["type"] == "Polygon"


def test_a_second_site_of_the_same_name_gets_the_next_free_key(store):
    keys = [create_site(store, BASE, "alice").key for _ in range(3)]
    assert keys == ["test-camp", "test-camp-2", "test-camp-3"]


def test_update_audits_before_and_after_of_changed_fields_only(store):
    create_site(store, {**BASE, "name_ko": "옛 이름", "note": "kept"}, "alice")
    fields = form_fields(store.site_by_key("test-camp", SYSTEM))
    fields.update(name_ko="새 이름", lat="40.2")
    s = update_site(store, "test-camp", fields, "bob")
    assert s.name_ko == "새 이름" and s.geometry.y == pytest.approx(40.2)
    [(_, target, details)] = _audit(store, "site.update")
    assert target == "test-camp"
    assert set(details["before"]) == set(details["after"]) == {"name_ko", "point"}
    assert details["before"]["name_ko"] == "옛 이름" and details["after"]["name_ko"] == "새 이름"
    assert details["after"]["point"]["coordinates"] == [127.2, 40.2]
    # the index moved with the point
    assert store.ids_intersecting("sites", (127.1, 40.15, 127.3, 40.25)) == [s.id]
    assert store.ids_intersecting("sites", (127.1, 40.05, 127.3, 40.15)) == []


def test_update_of_an_unknown_key_is_not_found(store):
    with pytest.raises(NotFound):
        update_site(store, "no-such-site", BASE, "bob")


def test_a_drawn_perimeter_sets_the_extent_unless_one_was_given(store):
    s = create_site(store, {**BASE, "perimeter": json.dumps(SQUARE)}, "alice")
    assert s.extent_km2 == pytest.approx(area_km2(parse_perimeter(SQUARE)))
    assert 3.5 < s.extent_km2 < 4.1  # 0.02° x 0.02° at 40° N
    given = create_site(store, {**BASE, "perimeter": json.dumps(SQUARE), "extent_km2": "7"},
                        "alice")
    assert given.extent_km2 == 7
    # a new outline with the extent field left as it was: measured again
    fields = form_fields(store.site_by_key(s.key, SYSTEM))
    half = {"type": "Polygon", "coordinates": [[[127.19, 40.09], [127.20, 40.09],
                                                [127.20, 40.11], [127.19, 40.11],
                                                [127.19, 40.09]]]}
    fields["perimeter"] = json.dumps(half)
    s2 = update_site(store, s.key, fields, "bob")
    assert s2.extent_km2 == pytest.approx(s.extent_km2 / 2, rel=0.01)
    # the outline removed: its measured extent goes with it; a typed one stays
    fields = form_fields(s2)
    fields["perimeter"] = ""
    assert update_site(store, s.key, fields, "bob").extent_km2 is None
    fields = form_fields(store.site_by_key(given.key, SYSTEM))
    fields["perimeter"] = ""
    assert update_site(store, given.key, fields, "bob").extent_km2 == 7


@pytest.mark.parametrize("change, field", [
    ({"name": "  "}, "name"),
    ({"facility_type": "prison"}, "facility_type"),
    ({"authority": "KGB"}, "authority"),
    ({"precision": "perfect"}, "precision"),
    ({"tier": "secret"}, "tier"),
    ({"status": "gone"}, "status"),
    ({"lat": "91"}, "lat"),
    ({"lat": "35.0", "lon": "140.0"}, "lon"),  # Japan, not Korea
    ({"lat": "1.5e400"}, "lat"),
    ({"lon": ""}, "lon"),
    ({"opened": "2000", "closed": "1990"}, "closed"),
    ({"opened": "nineteen"}, "opened"),
    ({"perimeter": "{not json"}, "perimeter"),
    ({"perimeter": json.dumps({"type": "LineString", "coordinates": [[127, 40], [127.1, 40]]})},
     "perimeter"),
    ({"perimeter": json.dumps({"type": "Polygon", "coordinates": [[[127.19, 40.09], [127.21, 40.11],
                                                                   [127.21, 40.09], [127.19, 40.11],
                                                                   [127.19, 40.09]]]})},
     "perimeter"),  # a bow tie crosses itself
    ({"perimeter": json.dumps({"type": "Polygon", "coordinates": [[[128.0, 41.0], [128.1, 41.0],
                                                                   [128.1, 41.1], [128.0, 41.0]]]})},
     "perimeter"),  # far from the point
    ({"perimeter": json.dumps({"type": "Polygon", "coordinates": [
        [[127.19 + 0.02 * i / 2500, 40.09] for i in range(2500)]
        + [[127.21, 40.11], [127.19, 40.09]]]})}, "perimeter"),  # over the vertex cap
    ({"citations": [{"publisher": "", "title": "A report"}]}, "src-0-publisher"),
    ({"citations": [{"publisher": "X", "url": "javascript:alert(1)"}]}, "src-0-url"),
    ({"citations": [{"publisher": "X", "supports": ["everything"]}]}, "src-0-supports"),
])
def test_each_bad_field_is_named(change, field):
    with pytest.raises(SiteFormError) as e:
        validate_site_form({**BASE, **change})
    assert field in e.value.errors, e.value.errors
    assert field in str(e.value)


def test_a_good_form_is_cleaned():
    v = validate_site_form({**BASE, "authority": "MSS", "opened": "1970", "opened_approx": "on",
                            "closed": "", "closed_approx": "on"})
    assert v["precision"] == Precision.LOCALITY and str(v["authority"]) == "MSS"
    assert (v["opened"], v["opened_approx"], v["closed"], v["closed_approx"]) == \
        (1970, True, None, False)


# -- pages --------------------------------------------------------------------------------------
@pytest.fixture
def web(settings, ref_store):
    from geomap.web import create_app

    app = create_app(settings, ref_store)
    app.config["TESTING"] = True

    def signed_in(role):
        user, secret, _ = make_user(ref_store, role)
        return sign_in(https_client(app), user.username, secret)

    return ref_store, signed_in


def _post(client, url, data):
    token = csrf_from(client.get(url).data.decode())
    return client.post(url, data={"csrf_token": token, **data})


def test_researcher_adds_a_site_through_the_form(web):
    store, signed_in = web
    c = signed_in("researcher")
    page = c.get("/sites/new")
    assert page.status_code == 200 and b'id="gm-site-map"' in page.data
    assert b"vendor/geoman/leaflet-geoman.min.js" in page.data
    r = _post(c, "/sites/new", {**BASE, "perimeter": json.dumps(SQUARE),
                                "src-0-publisher": "HRNK", "src-0-url": "https://example.org",
                                "src-0-supports": "location", "src-3-publisher": "Second"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/sites/test-camp")
    s = store.site_by_key("test-camp", SYSTEM)
    assert [c.publisher for c in s.citations] == ["HRNK", "Second"]
    assert s.extent_km2 > 3
    dossier = c.get("/sites/test-camp").data.decode()
    assert "/sites/test-camp/edit" in dossier and '"perimeter": {' in dossier


def test_researcher_edits_a_listed_site(web):
    store, signed_in = web
    c = signed_in("researcher")
    page = c.get("/sites/kwalliso-15-yodok/edit").data.decode()
    assert 'value="Yodok' in page or "Yodok" in page
    fields = form_fields(store.site_by_key("kwalliso-15-yodok", SYSTEM))
    data = {k: v for k, v in fields.items() if k != "citations" and not isinstance(v, bool)}
    data.update({k: "1" for k in ("opened_approx", "closed_approx") if fields[k]})
    for i, cit in enumerate(fields["citations"]):
        for k in ("publisher", "title", "url", "date", "accessed_via", "detail"):
            data[f"src-{i}-{k}"] = cit[k]
        data[f"src-{i}-supports"] = cit["supports"]
        if cit["point_source"]:
            data[f"src-{i}-point_source"] = "1"
    data["name_ko"] = "요덕 수용소 (수정)"
    r = _post(c, "/sites/kwalliso-15-yodok/edit", data)
    assert r.status_code == 303, r.data[:500]
    [(_, _, details)] = _audit(store, "site.update")
    assert set(details["after"]) == {"name_ko"}, details  # nothing else changed by the round trip
    assert "요덕 수용소 (수정)" in c.get("/sites/kwalliso-15-yodok").data.decode()


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"facility_type": "nope"}, "facility_type"),
    ({"lat": "99"}, "lat"), ({"opened": "2001", "closed": "2000"}, "closed"),
    ({"perimeter": "[1, 2"}, "perimeter"), ({"src-0-publisher": "X", "src-0-url": "data:x"},
                                           "src-0-url"),
])
def test_a_bad_form_is_a_400_naming_the_field_and_keeps_what_was_typed(web, change, field):
    store, signed_in = web
    c = signed_in("researcher")
    before_sites, before_audit = _count_sites(store), len(_audit(store))
    r = _post(c, "/sites/new", {**BASE, "name_ko": "남겨 둘 이름", **change})
    assert r.status_code == 400
    html = r.data.decode()
    assert f'id="err-{field}"' in html
    assert "남겨 둘 이름" in html  # what was typed is still there
    assert _count_sites(store) == before_sites and len(_audit(store)) == before_audit


def test_a_bad_edit_changes_nothing(web):
    store, signed_in = web
    c = signed_in("researcher")
    before = store.site_by_key("kwalliso-15-yodok", SYSTEM)
    r = _post(c, "/sites/kwalliso-15-yodok/edit", {**BASE, "lat": "10"})
    assert r.status_code == 400 and 'id="err-lat"' in r.data.decode()
    after = store.site_by_key("kwalliso-15-yodok", SYSTEM)
    assert (after.name, after.geometry.wkb) == (before.name, before.geometry.wkb)
    assert _audit(store, "site.update") == []


def test_viewer_gets_403_and_unknown_key_404(web):
    store, signed_in = web
    v = signed_in("viewer")
    assert v.get("/sites/new").status_code == 403
    assert v.get("/sites/kwalliso-15-yodok/edit").status_code == 403
    token = csrf_from(v.get("/sites/kwalliso-15-yodok").data.decode())
    assert v.post("/sites/new", data={**BASE, "csrf_token": token}).status_code == 403
    assert "/sites/kwalliso-15-yodok/edit" not in v.get("/sites/kwalliso-15-yodok").data.decode()
    assert _count_sites(store) == len(store.sites(SYSTEM))
    r = signed_in("researcher")
    assert r.get("/sites/no-such-site/edit").status_code == 404
    token = csrf_from(r.get("/sites/new").data.decode())
    assert r.post("/sites/no-such-site/edit", data={**BASE, "csrf_token": token}).status_code \
        == 404


def test_a_hostile_name_is_text_on_the_dossier_and_in_the_map_data(web):
    store, signed_in = web
    c = signed_in("researcher")
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    r = _post(c, "/sites/new", {**BASE, "name": evil, "name_ko": evil, "note": evil,
                                "src-0-publisher": evil, "src-0-title": evil,
                                "src-0-url": "http://example.org/\"><script>"})
    assert r.status_code in (303, 400)
    if r.status_code == 400:  # the url is refused; send it without
        r = _post(c, "/sites/new", {**BASE, "name": evil, "name_ko": evil, "note": evil,
                                    "src-0-publisher": evil, "src-0-title": evil})
    assert r.status_code == 303
    key = r.headers["Location"].rsplit("/", 1)[1]
    html = c.get(f"/sites/{key}").data.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    edit = c.get(f"/sites/{key}/edit").data.decode()
    assert "<script>alert(1)" not in edit and "<img src=x" not in edit
    # the map's popups are built from this JSON with text nodes (geomap-map.js)
    feats = c.get("/api/sites").get_json()["features"]
    mine = [f for f in feats if f["properties"]["key"] == key]
    assert mine and mine[0]["properties"]["name"] == evil
    js = open("geomap/web/static/js/geomap-map.js", encoding="utf-8").read()
    assert not re.search(r"innerHTML\s*=\s*[^\"';]*name", js)


def test_vendored_geoman_asks_no_other_host_for_anything():
    """Its icons are data: URIs; the page's CSP (img-src 'self' data:) would refuse others."""
    from pathlib import Path

    d = Path(__file__).resolve().parent.parent / "geomap" / "web" / "static" / "vendor" / "geoman"
    css = (d / "leaflet-geoman.css").read_text(encoding="utf-8")
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css)
    assert urls and all(u.startswith(("data:", "%23", "#")) for u in urls), urls
    assert "@import" not in css
    assert "MIT" in (d / "LICENSE").read_text(encoding="utf-8")
