import pytest
from pyproj import Geod

from geomap.gazetteer import Gazetteer
from geomap.geocode import geocode_pending, parse_relative, review_items
from geomap.model import Precision, Testimony
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter

GEOD = Geod(ellps="WGS84")


def _name_only(code, place):
    return Testimony(witness_code=code, place_text=place, geometry=None, radius_m=None,
                     precision=None, period=None, synthetic=True)


@pytest.fixture
def geocoded(ref_store):
    ref_store.add_testimonies([
        _name_only("SYN-G1", "Hoeryŏng"), _name_only("SYN-G2", "15호 관리소"),
        _name_only("SYN-G3", "5 km north-east of Hoeryong"),
        _name_only("SYN-G4", "Songwon"), _name_only("SYN-G5", "Qwxyz"),
        _name_only("SYN-G6", "평안남도"), _name_only("SYN-G7", "회령 남쪽 3km")])
    result = geocode_pending(ref_store, Gazetteer.from_store(ref_store, SYSTEM), actor="test")
    rows, _ = ref_store.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    return result, {r["witness_code"]: r for r in rows}


def test_a_town_name_becomes_an_area_never_exact(geocoded):
    _, rows = geocoded
    r = rows["SYN-G1"]
    assert r["precision"] == Precision.AREA and r["radius_m"] == 5_000
    assert r["miny"] == pytest.approx(42.44, abs=0.05)


def test_a_camp_reference_takes_the_sites_location_and_precision(geocoded):
    _, rows = geocoded
    r = rows["SYN-G2"]
    assert (r["minx"], r["miny"]) == (126.895, 39.713)
    assert r["precision"] == Precision.AREA and r["radius_m"] == 10_000  # a kwalliso point


def test_relative_descriptions_become_offset_points_with_wider_radius(geocoded):
    _, rows = geocoded
    town = rows["SYN-G1"]
    for code, bearing, dist in (("SYN-G3", 45, 5000), ("SYN-G7", 180, 3000)):
        r = rows[code]
        az, _, d = GEOD.inv(town["minx"], town["miny"], r["minx"], r["miny"])
        assert d == pytest.approx(dist, rel=0.01) and az % 360 == pytest.approx(bearing, abs=1)
        assert r["radius_m"] > 5_000


def test_ambiguous_and_unknown_names_go_to_review_not_guessed(geocoded, ref_store):
    result, rows = geocoded
    assert rows["SYN-G4"]["minx"] is None and rows["SYN-G5"]["minx"] is None
    items = {i["place_text"]: i for i in review_items(ref_store)}
    # two towns 36 km apart share the name: a person decides
    assert "ambiguous" in items["Songwon"]["reason"]
    assert len(items["Songwon"]["candidates"]) >= 2
    assert "Qwxyz" in items
    assert result.review == 2


def test_a_province_name_gives_the_admin_unit_only(geocoded):
    _, rows = geocoded
    r = rows["SYN-G6"]
    assert r["minx"] is None and r["precision"] == Precision.ADMIN_UNIT
    assert r["admin1_id"] is not None


def test_relative_phrases():
    assert parse_relative("5 km north-east of Hoeryŏng").bearing_deg == 45
    assert parse_relative("회령에서 남쪽으로 약 3킬로미터").distance_m == 3000
    assert parse_relative("Hoeryong") is None


def test_a_bare_town_name_is_not_made_ambiguous_by_camps_named_after_it(ref_store):
    from geomap.geocode import decide

    gaz = Gazetteer.from_store(ref_store, SYSTEM)
    d, reason, _ = decide(gaz, "Kaechon", {})
    assert d is not None and d.candidate.kind == "populated_place", reason
    d, _, _ = decide(gaz, "Camp 14", {})
    assert d.candidate.ref == "kwalliso-14-kaechon"


def test_review_page_lists_candidates(geocoded, ref_store, settings):
    from geomap.web import create_app

    from .conftest import https_client, make_user, sign_in

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "researcher")
    html = sign_in(https_client(app), user.username, secret).get("/import/review").data.decode()
    assert "Songwon" in html and "ambiguous" in html and "Songwŏn-ŭp" in html
