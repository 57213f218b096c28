import json

import pytest
from shapely.geometry import Point

from geomap.boundaries import AdminTagger, import_boundaries, read_boundaries
from geomap.errors import InvalidInput
from geomap.policy import SYSTEM

from .conftest import TEST_DATA

RAW = TEST_DATA / "prk_admin1_natural_earth_raw.geojson"


def _fc(features):
    return {"type": "FeatureCollection", "features": features}


def _poly(coords, **props):
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


def test_imports_the_messy_natural_earth_file(store):
    report = import_boundaries(store, RAW, 1)
    units = {u.code: u for u in store.boundary_units(1)}
    assert len(units) == 11
    assert report.result.inserted == 11
    # the unnamed minor island is reported, not imported under an invented name
    assert report.skipped == ["feature 0: no name in name"]
    # tabs around Hangul names are stripped
    assert units["KP.WN"].name_ko == "황해남도"
    assert all(u.name_ko == u.name_ko.strip() and "\t" not in u.name_ko for u in units.values())


def test_reimport_is_idempotent(store):
    import_boundaries(store, RAW, 1)
    again = import_boundaries(store, RAW, 1)
    assert (again.result.inserted, again.result.updated) == (0, 11)
    assert len(store.boundary_units(1)) == 11


def test_invalid_geometry_is_repaired_and_reported(store, tmp_path):
    bowtie = [[126, 39], [127, 40], [127, 39], [126, 40], [126, 39]]
    f = tmp_path / "bad.geojson"
    f.write_text(json.dumps(_fc([_poly(bowtie, name="  Bowtie  ", hasc="X.B")])))
    report = import_boundaries(store, f, 1)
    [u] = store.boundary_units(1)
    assert u.name_en == "Bowtie" and u.geometry.is_valid
    assert report.repaired and "Self-intersection" in report.repaired[0]


def test_named_fields_must_exist(tmp_path):
    f = tmp_path / "b.geojson"
    f.write_text(json.dumps(_fc([_poly([[0, 0], [1, 0], [1, 1], [0, 0]], NAME_1="A")])))
    with pytest.raises(InvalidInput, match="--name-field 'nom' is not a field"):
        read_boundaries(f, 1, name_field="nom")
    units, _ = read_boundaries(f, 1)  # NAME_1 (GADM) is among the defaults
    assert units[0].name_en == "A"


def test_other_formats_and_crs_are_read(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    gdf = gpd.GeoDataFrame({"shapeName": ["Unit"], "shapeID": ["U1"]},
                           geometry=[box(126, 39, 127, 40)], crs="EPSG:4326").to_crs(32652)
    f = tmp_path / "units.gpkg"
    gdf.to_file(f, driver="GPKG")
    [u], _ = read_boundaries(f, 2)
    assert (u.code, u.name_en) == ("U1", "Unit")
    assert u.geometry.bounds == pytest.approx((126, 39, 127, 40), abs=1e-6)


@pytest.mark.parametrize("path", ["/vsicurl/http://127.0.0.1:9/x.geojson",
                                  "https://example.invalid/x.geojson", "/no/such/file.shp"])
def test_remote_or_missing_paths_are_refused(store, path):
    with pytest.raises(InvalidInput):
        import_boundaries(store, path, 1)


@pytest.mark.parametrize("key, province", [
    ("kwalliso-25-chongjin", "Hamgyŏng-bukto"),
    ("kyohwaso-12-jongo-ri", "Hamgyŏng-bukto"),
    ("kwalliso-14-kaechon", "P'yŏngan-namdo"),
    ("kyohwaso-4-kangdong", "P'yŏngyang"),
])
def test_known_sites_fall_in_their_province(ref_store, key, province):
    units = {u.id: u for u in ref_store.boundary_units(1)}
    site = ref_store.site_by_key(key, SYSTEM)
    assert units[site.admin1.unit_id].name_en == province
    assert not site.admin1.outside


def test_a_point_outside_every_unit_gets_the_nearest_one_flagged(ref_store):
    # the Hyesan holding centres lie just across the simplified Yalu border line
    site = ref_store.site_by_key("jipkyulso-hyesan-mps", SYSTEM)
    units = {u.id: u for u in ref_store.boundary_units(1)}
    assert units[site.admin1.unit_id].name_en == "Ryanggang"
    assert site.admin1.outside and 50 < site.admin1.distance_m < 1000


def test_tagger_measures_distance_in_metres(ref_store):
    tagger = AdminTagger(ref_store.boundary_units(1))
    # ~ 0.1 degree of longitude east of Rasŏn's coast, in the sea
    [tag] = tagger.tag([Point(130.9, 42.3)])
    assert tag.outside and 1_000 < tag.distance_m < 60_000
    assert tagger.tag([None]) == [None]
