import json
import re

import pytest

BBOX_ALL = "124.0,37.5,131.0,43.1"


def _decimals(x: float) -> int:
    s = repr(x)
    return len(s.split(".")[1]) if "." in s else 0


def test_testimonies_are_rfc7946_geojson_in_lon_lat_order(client):
    r = client.get(f"/api/testimonies?bbox={BBOX_ALL}")
    assert r.status_code == 200
    assert r.mimetype == "application/geo+json"
    doc = r.get_json(force=True)
    assert doc["type"] == "FeatureCollection"
    assert doc["numberReturned"] == len(doc["features"]) > 400
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 124 <= lon <= 131 and 37.5 <= lat <= 43.1  # lon first
        assert _decimals(lon) <= 6 and _decimals(lat) <= 6
        assert f["properties"]["synthetic"] is True
        assert "narrative" not in f["properties"]


def test_site_geometry_is_lon_lat(client):
    doc = client.get("/api/sites").get_json(force=True)
    by_key = {f["id"]: f for f in doc["features"]}
    camp25 = by_key["kwalliso-25-chongjin"]
    assert camp25["geometry"]["coordinates"] == [129.72528, 41.834384]
    assert camp25["properties"]["admin1"] == "Hamgyŏng-bukto"
    assert by_key["kwalliso-11-kyongsong"]["geometry"] is None


def test_boundaries_carry_english_and_korean_names(client):
    r = client.get("/api/boundaries?level=1")
    doc = json.loads(r.data.decode("utf-8"))
    names = {f["properties"]["name_en"]: f["properties"]["name_ko"] for f in doc["features"]}
    assert names["Hamgyŏng-bukto"] == "함경북도"
    assert "함경북도" in r.data.decode("utf-8")  # Hangul as text, not \\u escapes
    ring = doc["features"][1]["geometry"]["coordinates"][0]
    if doc["features"][1]["geometry"]["type"] == "MultiPolygon":
        ring = ring[0]
    area2 = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False))
    assert area2 > 0  # exterior ring counter-clockwise (RFC 7946 3.1.6)


def test_bbox_only_returns_points_inside(client):
    bbox = (126.6, 39.5, 127.1, 39.9)
    doc = client.get("/api/testimonies?bbox=" + ",".join(map(str, bbox))).get_json(force=True)
    assert doc["features"]
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_filters_by_facility_type_violation_and_period(client):
    kw = client.get("/api/sites?facility_type=kwalliso").get_json(force=True)
    assert kw["features"] and all(f["properties"]["facility_type"] == "kwalliso"
                                  for f in kw["features"])
    both = client.get("/api/sites?facility_type=kwalliso,kyohwaso").get_json(force=True)
    assert len(both["features"]) > len(kw["features"])

    tor = client.get(f"/api/testimonies?bbox={BBOX_ALL}&violation=torture").get_json(force=True)
    assert tor["features"] and all("torture" in f["properties"]["violations"]
                                   for f in tor["features"])
    allf = client.get(f"/api/testimonies?bbox={BBOX_ALL}").get_json(force=True)
    assert len(tor["features"]) < len(allf["features"])

    from geomap.periods import parse_period

    q = parse_period("1998-2001")
    doc = client.get(f"/api/testimonies?bbox={BBOX_ALL}&period=1998-2001").get_json(force=True)
    assert doc["features"]
    for f in doc["features"]:
        assert parse_period(f["properties"]["period"]).overlaps_period(q)


def test_limit_caps_and_reports_the_total(client):
    doc = client.get(f"/api/testimonies?bbox={BBOX_ALL}&limit=10").get_json(force=True)
    assert doc["numberReturned"] == 10 < doc["numberMatched"]


def test_etag_allows_conditional_requests(client):
    r = client.get("/api/boundaries?level=1")
    r2 = client.get("/api/boundaries?level=1", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304


@pytest.mark.parametrize("url, param, why", [
    ("/api/testimonies?bbox=1,2,3", "bbox", "4 numbers"),
    ("/api/testimonies?bbox=a,b,c,d", "bbox", "not a number"),
    ("/api/testimonies?bbox=40,124,43,131", "bbox", "latitudes must be within"),
    ("/api/testimonies?bbox=131,37,124,43", "bbox", "min must not exceed max"),
    ("/api/testimonies?bbox=nan,1,2,3", "bbox", "finite"),
    ("/api/testimonies?violation=beating", "violation", "'beating' is not one of"),
    ("/api/testimonies?period=yesterday", "period", "'yesterday'"),
    ("/api/testimonies?limit=0", "limit", "between 1 and"),
    ("/api/testimonies?limit=ten", "limit", "not an integer"),
    ("/api/testimonies?colour=red", "colour", "unknown parameter 'colour'"),
    ("/api/sites?facility_type=gulag", "facility_type", "'gulag' is not one of"),
    ("/api/sites?violation=torture", "violation", "unknown parameter"),
    ("/api/boundaries?level=7", "level", "between 0 and 2"),
])
def test_bad_parameters_get_a_400_naming_the_parameter(client, url, param, why):
    r = client.get(url)
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == body["parameter"] == param and body["error"] == "invalid_input"
    assert why in body["message"]


def test_unknown_api_path_is_a_json_404(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "error" in r.get_json()


def test_map_page_does_not_embed_testimonies(client, demo_instance):
    _, store = demo_instance
    html = client.get("/").data.decode("utf-8")
    from geomap.policy import SYSTEM
    from geomap.store import TestimonyFilter

    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM, limit=50)
    assert not any(r["witness_code"] in html for r in rows)
    assert not re.search(r"SYN-W\d{5}", html)


def test_over_the_limit_with_grid_the_answer_is_counts_per_cell(client):
    doc = client.get(f"/api/testimonies?bbox={BBOX_ALL}&limit=50&grid=0.5").get_json(force=True)
    assert doc["aggregated"] is True and doc["numberReturned"] == 0
    counts = [f["properties"]["count"] for f in doc["features"]]
    assert sum(counts) == doc["numberMatched"] > 50
    assert all(set(f["properties"]) == {"count"} for f in doc["features"])
    # cells are at most `grid` degrees wide: no two centres closer than zero, none outside bbox
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 124 <= lon <= 131 and 37.5 <= lat <= 43.1
    # under the limit the same request returns the points themselves
    pts = client.get(f"/api/testimonies?bbox={BBOX_ALL}&limit=50000&grid=0.5").get_json(force=True)
    assert pts["aggregated"] is False and pts["numberReturned"] == doc["numberMatched"]


def test_grid_counts_match_a_brute_force_binning(client):
    import math
    from collections import Counter

    pts = client.get(f"/api/testimonies?bbox={BBOX_ALL}").get_json(force=True)["features"]
    doc = client.get(f"/api/testimonies?bbox={BBOX_ALL}&limit=1&grid=0.7").get_json(force=True)
    cell = doc["cell"]
    assert cell == 0.5  # snapped to the nearest power of two; cells aligned on the world
    expected = Counter(
        (math.floor((f["geometry"]["coordinates"][0] + 180) / cell),
         math.floor((f["geometry"]["coordinates"][1] + 90) / cell)) for f in pts)
    assert sorted(f["properties"]["count"] for f in doc["features"]) == sorted(expected.values())


def test_testimony_features_carry_exactly_the_allow_listed_fields(client):
    from geomap.geojson import TESTIMONY_CODE_FIELDS, TESTIMONY_MAP_FIELDS

    doc = client.get(f"/api/testimonies?bbox={BBOX_ALL}&limit=5").get_json(force=True)
    allowed = [*TESTIMONY_MAP_FIELDS, *TESTIMONY_CODE_FIELDS]  # a researcher reads codes
    assert doc["features"] and all(list(f["properties"]) == allowed for f in doc["features"])


def test_large_answers_are_gzipped_for_clients_that_accept_it(client):
    import gzip

    plain = client.get(f"/api/testimonies?bbox={BBOX_ALL}")
    r = client.get(f"/api/testimonies?bbox={BBOX_ALL}", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert gzip.decompress(r.data) == plain.data
    assert len(r.data) * 4 < len(plain.data)
    assert r.headers["ETag"] != plain.headers["ETag"]


@pytest.mark.parametrize("value, why", [("0", "between"), ("x", "not a number"),
                                        ("inf", "between"), ("11", "between")])
def test_bad_grid_is_a_400(client, value, why):
    r = client.get(f"/api/testimonies?bbox={BBOX_ALL}&grid={value}")
    assert r.status_code == 400 and r.get_json()["parameter"] == "grid"
    assert why in r.get_json()["message"]
