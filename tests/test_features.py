"""geomap.features: the documents the map's API serves, built without Flask (imported as a
module: pytest would collect a function named testimonies_*)."""

from geomap import features
from geomap.corroboration import GradeRule
from geomap.errors import NotFound
from geomap.policy import SYSTEM, Principal, Role
from geomap.store import TestimonyFilter

VIEWER = Principal(None, "v", Role.VIEWER)


def test_testimonies_in_view_are_points_under_the_limit_and_grid_cells_over_it(demo_instance):
    _, store = demo_instance
    pts = features.testimonies_in_view(store, SYSTEM, TestimonyFilter(), limit=100_000, grid=0.5)
    assert pts["aggregated"] is False and pts["numberReturned"] == pts["numberMatched"] > 100
    assert all("witness_code" in f["properties"] for f in pts["features"])
    cells = features.testimonies_in_view(store, SYSTEM, TestimonyFilter(), limit=10, grid=0.5)
    assert cells["aggregated"] is True and cells["numberReturned"] == 0
    assert sum(f["properties"]["count"] for f in cells["features"]) == cells["numberMatched"]
    # without a grid, the limit cuts the points
    assert len(features.testimonies_in_view(store, SYSTEM, TestimonyFilter(), limit=10)["features"]) == 10


def test_a_viewer_gets_no_witness_codes_and_only_partner_or_public_records(demo_instance):
    _, store = demo_instance
    doc = features.testimonies_in_view(store, VIEWER, TestimonyFilter(), limit=100_000)
    assert doc["numberMatched"] < features.testimonies_in_view(
        store, SYSTEM, TestimonyFilter(), limit=100_000)["numberMatched"]
    assert not any("witness_code" in f["properties"] for f in doc["features"])


def test_sites_in_view_carry_grades_and_unknown_sites_are_not_found(demo_instance):
    import pytest

    _, store = demo_instance
    doc = features.sites_in_view(store, SYSTEM, GradeRule())
    assert len(doc["features"]) > 20
    assert {f["properties"]["grade"] for f in doc["features"]} >= {"no_confirmed_testimony"}
    assert features.site_testimony_points(store, SYSTEM, "kwalliso-15-yodok")["type"] == "FeatureCollection"
    with pytest.raises(NotFound):
        features.site_testimony_points(store, SYSTEM, "no-such-site")
