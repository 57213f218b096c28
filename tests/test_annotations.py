"""Imagery annotations: store and service on both backends (create, edit, history, tombstone,
geodesic length and area, vocabulary, permissions and tiers, audit), and the JSON API."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box, shape
from sqlalchemy import select

from geomap import annotations as ann
from geomap.errors import Conflict, Forbidden, InvalidInput, NotFound
from geomap.imagery import ingest
from geomap.model import FacilityType, Precision, Site, Tier
from geomap.policy import Principal, Role
from geomap.store.scenes import SceneStore
from geomap.store.schema import annotation_versions, audit_log
from tests.conftest import csrf_from, https_client, make_user, sign_in, solid_geotiff

BOUNDS = (126.99, 39.99, 127.02, 40.02)  # about 2.6 x 3.3 km
ANALYST = Principal(None, "ana", Role.ANALYST)
VIEWER = Principal(None, "vic", Role.VIEWER)
RESEARCHER = Principal(None, "res", Role.RESEARCHER)


def make_scene(store, settings, tmp_path, acquired=date(2014, 5, 1), tier=Tier.INTERNAL,
               band=0, bounds=BOUNDS, name="s.tif"):
    """A real GeoTIFF ingested and catalogued (no mocks)."""
    f = solid_geotiff(tmp_path / name, bounds, band)
    s = ingest(f, settings.instance_path / "imagery", acquired, actor="t", sensor="TestSat-1",
               licence="CC BY 4.0 test", tier=tier)
    SceneStore(store).add(s, actor="t")
    return s


def make_site(store, key="t-camp", tier=Tier.PUBLIC, lon=127.005, lat=40.005):
    site = Site(key=key, name="Test camp (synthetic)", facility_type=FacilityType("kwalliso"),
                geometry=Point(lon, lat), precision=Precision.VICINITY, tier=tier)
    store.upsert_sites([site])
    return site


@pytest.fixture
def scene(store, settings, tmp_path):
    return make_scene(store, settings, tmp_path)


def meridian_arc_m(lat0: float, lat1: float) -> float:
    """Length of a meridian arc on WGS84 by numerical integration of the meridional radius of
    curvature M(phi) = a(1-e^2) / (1 - e^2 sin^2 phi)^1.5 (independent of pyproj)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    n = 2000
    h = math.radians(lat1 - lat0) / n
    total = 0.0
    for i in range(n + 1):
        phi = math.radians(lat0) + i * h
        m = a * (1 - e2) / (1 - e2 * math.sin(phi) ** 2) ** 1.5
        total += m * (1 if i in (0, n) else 4 if i % 2 else 2)
    return total * h / 3


def line(lat0=40.0, lat1=40.015, lon=127.0):
    return {"type": "LineString", "coordinates": [[lon, lat0], [lon, lat1]]}


SQUARE = {"type": "Polygon", "coordinates": [[[127.0, 40.0], [127.01, 40.0], [127.01, 40.008],
                                              [127.0, 40.008], [127.0, 40.0]]]}


# -- create, edit, history, tombstone ------------------------------------------------------------
def test_create_edit_delete_keeps_every_version(store, scene):
    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "perimeter_fence",
                                    "confidence": "high", "note": "[SYNTHETIC] seen by W-1",
                                    "geometry": SQUARE})
    assert a["version"] == 1 and a["kind"] == "polygon" and a["label"] == "perimeter_fence"
    assert a["scene_date"] == "2014-05-01" and a["sensor"] == "TestSat-1"
    assert a["note"] == "[SYNTHETIC] seen by W-1" and a["tier"] == "internal"
    b = ann.update(store, ANALYST, a["id"], {"label": "housing_barracks", "confidence": "low",
                                             "geometry": SQUARE, "note": "revised"},
                   expected_version=1)
    assert b["version"] == 2 and b["label"] == "housing_barracks" and b["note"] == "revised"
    with pytest.raises(Conflict):  # a stale copy cannot overwrite version 2
        ann.update(store, ANALYST, a["id"], {"label": "other", "geometry": SQUARE},
                   expected_version=1)
    gone = ann.delete(store, ANALYST, a["id"])
    assert gone["deleted"] and gone["version"] == 3
    assert ann.for_scene(store, ANALYST, scene.id) == []
    with pytest.raises(NotFound):
        ann.get(store, ANALYST, a["id"])
    with pytest.raises(NotFound):  # a tombstone is not edited back to life
        ann.update(store, ANALYST, a["id"], {"label": "other", "geometry": SQUARE})
    h = ann.history(store, ANALYST, a["id"])
    assert [(v["version"], v["action"], v["label"]) for v in h] == [
        (3, "delete", "housing_barracks"), (2, "update", "housing_barracks"),
        (1, "create", "perimeter_fence")]
    assert [v["note"] for v in h] == ["revised", "revised", "[SYNTHETIC] seen by W-1"]
    assert h[2]["confidence"] == "high" and h[1]["confidence"] == "low"


def test_notes_are_encrypted_at_rest_and_only_staff_read_them(store, scene):
    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "guard_post",
                                    "note": "[SYNTHETIC] witness W-77 pointed here",
                                    "geometry": {"type": "Point", "coordinates": [127.0, 40.0]}})
    with store.read() as conn:
        blob = conn.execute(select(annotation_versions.c.note_enc)).scalar_one()
    assert b"W-77" not in blob
    # a researcher reads notes; a viewer never gets the field (and cannot see internal scenes)
    assert ann.get(store, RESEARCHER, a["id"])["note"].endswith("pointed here")
    with pytest.raises(NotFound):
        ann.get(store, VIEWER, a["id"])


def test_audit_has_before_and_after_but_never_the_note(store, scene):
    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "guard_post",
                                    "note": "[SYNTHETIC] secret-name-1",
                                    "geometry": {"type": "Point", "coordinates": [127.0, 40.0]}})
    ann.update(store, ANALYST, a["id"], {"label": "gate_checkpoint", "note": "secret-name-2",
                                         "geometry": {"type": "Point",
                                                      "coordinates": [127.001, 40.0]}})
    ann.delete(store, ANALYST, a["id"])
    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.target,
                                   audit_log.c.details)
                            .where(audit_log.c.action.like("annotation.%"))
                            .order_by(audit_log.c.id)).all()
    assert [r.action for r in rows] == ["annotation.create", "annotation.update",
                                        "annotation.delete"]
    assert all(r.actor == "ana" for r in rows)
    for r in rows:
        assert "secret-name" not in r.details
    created, edited, deleted = (json.loads(r.details) for r in rows)
    assert created["after"]["label"] == "guard_post" and created["note_set"] is True
    assert edited["before"]["label"] == "guard_post" and edited["after"]["label"] == "gate_checkpoint"
    assert edited["before"]["geometry"]["coordinates"] == [127.0, 40.0]
    assert edited["after"]["geometry"]["coordinates"] == [127.001, 40.0]
    assert edited["note_changed"] is True and "note" not in edited["after"]
    assert deleted["before"] == {"deleted": False} and deleted["after"] == {"deleted": True}
    assert deleted["note_changed"] is False


def test_an_edit_without_a_note_keeps_it_and_key_rotation_re_encrypts_every_version(store,
                                                                                   scene):
    from geomap.rotation import rotate_keys

    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "guard_post",
                                    "note": "[SYNTHETIC] first", "geometry": SQUARE})
    b = ann.update(store, ANALYST, a["id"], {"label": "gate_checkpoint", "geometry": SQUARE})
    assert b["note"] == "[SYNTHETIC] first"
    ann.update(store, ANALYST, a["id"], {"label": "gate_checkpoint", "geometry": SQUARE,
                                         "note": "[SYNTHETIC] second"})
    result = rotate_keys(store, actor="test")
    assert result.values >= 3 and result.retired  # the old key is gone...
    with store.read() as conn:
        blobs = conn.execute(select(annotation_versions.c.note_enc)).scalars().all()
    assert {store.cipher.key_id(b) for b in blobs} == {result.new_key}
    # ...and every version's note still reads
    assert [v["note"] for v in ann.history(store, ANALYST, a["id"])] == [
        "[SYNTHETIC] second", "[SYNTHETIC] first", "[SYNTHETIC] first"]


# -- measures ---------------------------------------------------------------------------------
def test_length_of_a_meridian_segment_is_geodesic_within_one_percent(store, scene):
    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "perimeter_fence",
                                    "geometry": line(40.0, 40.015)})
    expected = meridian_arc_m(40.0, 40.015)  # about 1,665 m
    assert abs(a["length_m"] - expected) / expected < 0.001
    assert a["area_m2"] is None


def test_area_of_a_polygon_matches_an_equal_area_projection(store, scene):
    a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "labour_farm",
                                    "geometry": SQUARE})
    laea = Transformer.from_crs("EPSG:4326", "+proj=laea +lat_0=40.004 +lon_0=127.005 "
                                "+ellps=WGS84", always_xy=True)
    expected = shapely.transform(shape(SQUARE), lambda x, y: laea.transform(x, y),
                                interleaved=False).area
    assert abs(a["area_m2"] - expected) / expected < 0.001
    assert a["area_km2"] == pytest.approx(expected / 1e6, rel=0.001)
    assert a["length_m"] == pytest.approx(2 * (853.6 + 889.2), rel=0.01)  # its perimeter


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, field", [
    ({"label": "prison_camp"}, "label"),
    ({"label": "other", "confidence": "certain"}, "confidence"),
    ({"label": "other", "geometry": {"type": "MultiPoint", "coordinates": [[127, 40]]}},
     "geometry"),
    ({"label": "other", "geometry": "not json"}, "geometry"),
    ({"label": "other", "geometry": {"type": "Polygon", "coordinates": [[[127.0, 40.0],
      [127.01, 40.01], [127.01, 40.0], [127.0, 40.01], [127.0, 40.0]]]}}, "geometry"),  # bow tie
    ({"label": "other", "geometry": line(41.0, 41.01)}, "geometry"),  # far from the scene
    ({"label": "other", "change": "appeared"}, "change_scene_id"),
    ({"label": "other", "note": "x" * 5000}, "note"),
    ({"label": "other", "site_id": 999999}, "site_id"),
])
def test_bad_input_is_refused_naming_the_field(store, scene, data, field):
    body = {"scene_id": scene.id, "geometry": SQUARE, **data}
    with pytest.raises(InvalidInput) as e:
        ann.create(store, ANALYST, body)
    assert e.value.field == field


def test_a_drawing_may_reach_just_past_the_footprint(store, scene):
    # a fence on the scene's edge, 100 m past it: kept; 1 km past: refused
    edge = BOUNDS[2]
    ok = ann.create(store, ANALYST, {"scene_id": scene.id, "label": "perimeter_fence",
                                     "geometry": {"type": "LineString", "coordinates": [
                                         [edge - 0.001, 40.0], [edge + 0.001, 40.0]]}})
    assert ok["id"]
    with pytest.raises(InvalidInput):
        ann.create(store, ANALYST, {"scene_id": scene.id, "label": "perimeter_fence",
                                    "geometry": {"type": "LineString", "coordinates": [
                                        [edge - 0.001, 40.0], [edge + 0.012, 40.0]]}})


def test_change_is_against_an_earlier_scene(store, settings, tmp_path, scene):
    later = make_scene(store, settings, tmp_path, acquired=date(2019, 6, 1), band=2,
                       name="later.tif")
    a = ann.create(store, ANALYST, {"scene_id": later.id, "label": "construction",
                                    "change": "appeared", "change_scene_id": scene.id,
                                    "geometry": SQUARE})
    assert (a["change"], a["change_scene_id"]) == ("appeared", scene.id)
    with pytest.raises(InvalidInput) as e:  # the later scene is not earlier than the first
        ann.create(store, ANALYST, {"scene_id": scene.id, "label": "demolition",
                                    "change": "gone", "change_scene_id": later.id,
                                    "geometry": SQUARE})
    assert e.value.field == "change_scene_id"


# -- permissions and tiers ------------------------------------------------------------------------
def test_viewers_may_not_write_and_do_not_see_internal_scenes(store, settings, tmp_path, scene):
    with pytest.raises(Forbidden):
        ann.create(store, VIEWER, {"scene_id": scene.id, "label": "other", "geometry": SQUARE})
    public = make_scene(store, settings, tmp_path, tier=Tier.PUBLIC, band=1, name="pub.tif")
    a = ann.create(store, ANALYST, {"scene_id": public.id, "label": "other",
                                    "note": "[SYNTHETIC] staff only", "geometry": SQUARE})
    seen = ann.get(store, VIEWER, a["id"])
    assert seen["tier"] == "public" and "note" not in seen
    with pytest.raises(Forbidden):
        ann.update(store, VIEWER, a["id"], {"label": "other", "geometry": SQUARE})
    with pytest.raises(Forbidden):
        ann.delete(store, VIEWER, a["id"])
    with pytest.raises(NotFound):
        ann.for_scene(store, VIEWER, scene.id)


def test_tier_is_the_most_restrictive_of_scene_and_site(store, settings, tmp_path):
    public = make_scene(store, settings, tmp_path, tier=Tier.PUBLIC)
    site = make_site(store, tier=Tier.INTERNAL)
    a = ann.create(store, ANALYST, {"scene_id": public.id, "site_id": site.id,
                                    "label": "perimeter_fence", "geometry": SQUARE})
    assert a["tier"] == "internal"
    with pytest.raises(NotFound):
        ann.get(store, VIEWER, a["id"])


# -- site geometry confirmed on imagery, dossier features ------------------------------------------
def test_a_polygon_becomes_the_sites_geometry_confirmed_on_imagery(store, scene):
    site = make_site(store, tier=Tier.INTERNAL)
    fence = ann.create(store, ANALYST, {"scene_id": scene.id, "site_id": site.id,
                                        "label": "perimeter_fence", "geometry": SQUARE})
    post = ann.create(store, ANALYST, {"scene_id": scene.id, "site_id": site.id,
                                       "label": "guard_post",
                                       "geometry": {"type": "Point", "coordinates": [127.0, 40.0]}})
    with pytest.raises(InvalidInput):
        ann.confirm_site_geometry(store, ANALYST, post["id"])
    conf = ann.confirm_site_geometry(store, ANALYST, fence["id"])
    assert conf["date"] == "2014-05-01" and conf["scene_id"] == scene.id
    assert shape(conf["geometry"]).equals(shape(SQUARE))
    # kept apart from the reported point
    assert store.site_by_key(site.key, ANALYST).geometry.equals(Point(127.005, 40.005))
    # the map's site popup says so; a viewer does not see an internal site's outline
    from geomap.corroboration import GradeRule
    from geomap.features import sites_in_view

    fc = sites_in_view(store, ANALYST, GradeRule())
    [props] = [f["properties"] for f in fc["features"] if f["properties"]["key"] == site.key]
    assert props["imagery_confirmed"] == "2014-05-01"
    assert ann.site_geometry(store, VIEWER, site.id) is None
    feats = ann.site_features(store, ANALYST, site.id)
    assert [g["date"] for g in feats] == ["2014-05-01"]
    assert sorted(f["label"] for f in feats[0]["features"]) == ["guard_post", "perimeter_fence"]
    with store.read() as conn:
        row = conn.execute(select(audit_log.c.details).where(
            audit_log.c.action == "site.imagery_geometry")).scalar_one()
    assert json.loads(row)["annotation"] == fence["id"]


# -- exports (the formats' own tests are in test_annotation_exports.py) ---------------------------
def test_geojson_export_carries_the_scene_and_the_measures(store, scene):
    ann.create(store, ANALYST, {"scene_id": scene.id, "label": "perimeter_fence",
                                "note": "[SYNTHETIC] not exported", "geometry": line()})
    body, media = ann.export(store, ANALYST, scene.id, "geojson")
    fc = json.loads(body)
    p = fc["features"][0]["properties"]
    assert media == "application/geo+json" and b"not exported" not in body
    assert (p["label"], p["scene_date"], p["sensor"]) == ("perimeter_fence", "2014-05-01",
                                                          "TestSat-1")
    assert p["length_m"] > 1600
    with pytest.raises(InvalidInput):
        ann.export(store, ANALYST, scene.id, "shp")


# -- the JSON API ------------------------------------------------------------------------------------
@pytest.fixture
def api(store, settings, scene):
    from geomap.web import create_app

    app = create_app(settings, store)
    user, secret, _ = make_user(store, "analyst")
    c = sign_in(https_client(app), user.username, secret)
    page = c.get(f"/imagery/{scene.id}/annotate")
    assert page.status_code == 200
    token = csrf_from(page.data.decode())
    return c, {"X-CSRFToken": token}, app


def test_api_create_edit_history_and_vocabulary_rejection(api, scene):
    c, h, _ = api
    r = c.post("/api/annotations", json={"scene_id": scene.id, "label": "gate_checkpoint",
                                         "geometry": SQUARE}, headers=h)
    assert r.status_code == 201, r.data
    aid = r.get_json()["id"]
    bad = c.post("/api/annotations", json={"scene_id": scene.id, "label": "torture_room",
                                           "geometry": SQUARE}, headers=h)
    assert bad.status_code == 400 and bad.get_json()["field"] == "label"
    assert "torture_room" in bad.get_json()["message"]
    no_csrf = c.post("/api/annotations", json={"scene_id": scene.id, "label": "other",
                                               "geometry": SQUARE})
    assert no_csrf.status_code == 400
    r = c.put(f"/api/annotations/{aid}", json={"label": "guard_post", "geometry": SQUARE,
                                               "version": 1}, headers=h)
    assert r.status_code == 200 and r.get_json()["version"] == 2
    stale = c.put(f"/api/annotations/{aid}", json={"label": "other", "geometry": SQUARE,
                                                   "version": 1}, headers=h)
    assert stale.status_code == 409
    hist = c.get(f"/api/annotations/{aid}/history").get_json()["versions"]
    assert [v["label"] for v in hist] == ["guard_post", "gate_checkpoint"]
    assert c.delete(f"/api/annotations/{aid}", headers=h).status_code == 200
    assert c.get(f"/api/annotations?scene={scene.id}").get_json()["annotations"] == []
    assert c.get("/api/annotations?scene=" + "0" * 32).status_code == 404
    assert c.get("/api/annotations/export?scene=" + scene.id + "&format=pdf").status_code == 400
    kml = c.get(f"/api/annotations/export?scene={scene.id}&format=kml")
    assert kml.status_code == 200 and kml.mimetype == "application/vnd.google-earth.kml+xml"
    assert kml.headers["Content-Disposition"] == (
        f'attachment; filename="annotations-{scene.id}.kml"')
    gj = c.get(f"/api/annotations/export?scene={scene.id}")
    assert gj.mimetype == "application/geo+json" and gj.get_json()["features"] == []


def test_api_refuses_a_viewer(api, store, scene):
    _, _, app = api
    user, secret, _ = make_user(store, "viewer")
    v = sign_in(https_client(app), user.username, secret)
    token = csrf_from(v.get("/").data.decode())
    r = v.post("/api/annotations", json={"scene_id": scene.id, "label": "other",
                                         "geometry": SQUARE}, headers={"X-CSRFToken": token})
    assert r.status_code in (403, 404)  # an internal scene does not exist for a viewer
    assert v.get(f"/imagery/{scene.id}/annotate").status_code == 404


def test_every_label_is_accepted_and_geometries_round_trip(store, scene):
    for label in ann.LABELS:
        a = ann.create(store, ANALYST, {"scene_id": scene.id, "label": label,
                                        "geometry": SQUARE})
        assert shapely.equals_exact(shape(a["geometry"]), shape(SQUARE), 1e-9)
    assert len(ann.for_scene(store, ANALYST, scene.id)) == len(ann.LABELS) == 13
    assert box(*BOUNDS).contains(shape(SQUARE))


def test_dossier_shows_the_reported_point_and_the_outline_confirmed_on_imagery(api, store,
                                                                                scene):
    c, h, _ = api
    site = make_site(store, tier=Tier.PUBLIC)
    r = c.post("/api/annotations", json={"scene_id": scene.id, "site_id": site.id,
                                         "label": "perimeter_fence", "geometry": SQUARE},
               headers=h)
    aid = r.get_json()["id"]
    page = c.get(f"/sites/{site.key}").data.decode()
    assert "Observed on imagery, by date" in page and "Perimeter fence" in page
    assert "Confirmed on imagery" not in page
    assert c.post(f"/api/annotations/{aid}/confirm-site", headers=h).status_code == 200
    page = c.get(f"/sites/{site.key}").data.decode()
    assert "Confirmed on imagery" in page and "Outline drawn on the scene of 2014-05-01" in page
    data = json.loads(page.split('id="gm-dossier-data"')[1].split(">", 1)[1]
                      .split("</script>")[0])
    assert data["site"]["lon"] == 127.005  # the reported point, unchanged
    assert shape(data["site"]["imagery"]).equals(shape(SQUARE))
    ko = c.get(f"/sites/{site.key}?lang=ko").data.decode()
    assert "영상으로 확인" in ko and "외곽 울타리" in ko


def test_a_viewer_reads_a_public_scene_without_drawing_tools_or_notes(api, store, settings,
                                                                       tmp_path):
    _, _, app = api
    public = make_scene(store, settings, tmp_path, tier=Tier.PUBLIC, band=1, name="pub.tif")
    ann.create(store, ANALYST, {"scene_id": public.id, "label": "guard_post",
                                "note": "[SYNTHETIC] staff only", "geometry": SQUARE})
    user, secret, _ = make_user(store, "viewer")
    v = sign_in(https_client(app), user.username, secret)
    page = v.get(f"/imagery/{public.id}/annotate")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'id="gm-ann-note"' not in html and 'id="gm-ann-save"' not in html
    assert '"can_edit": false' in html and "staff only" not in html
    [a] = v.get(f"/api/annotations?scene={public.id}").get_json()["annotations"]
    assert a["label"] == "guard_post" and "note" not in a
