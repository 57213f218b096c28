"""Annotation exports read by GIS tools: the KML by GDAL's `ogrinfo` (LIBKML driver, with each
Placemark's TimeStamp), the GeoJSON by geopandas/pyogrio; written by the API and by
`geomap annotations export`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from click.testing import CliRunner
from shapely.geometry import shape

from geomap import annotations as ann
from geomap.cli import main
from geomap.model import Tier
from geomap.policy import Principal, Role
from tests.test_annotations import SQUARE, line, make_scene, make_site

ANALYST = Principal(None, "ana", Role.ANALYST)
needs_ogr = pytest.mark.skipif(shutil.which("ogrinfo") is None,
                               reason="ogrinfo (Debian gdal-bin; make setup-test installs it)")


@pytest.fixture
def annotated(store, settings, tmp_path):
    """Two scenes; the later one with a point, a line and a polygon (one tied to a site)."""
    first = make_scene(store, settings, tmp_path, acquired=date(2011, 3, 9), name="a.tif")
    later = make_scene(store, settings, tmp_path, acquired=date(2016, 10, 21), band=2,
                       name="b.tif")
    site = make_site(store, key="camp-x", tier=Tier.PUBLIC)
    made = [
        ann.create(store, ANALYST, {"scene_id": later.id, "label": "guard_post",
                                    "confidence": "high",
                                    "geometry": {"type": "Point", "coordinates": [127.0, 40.0]}}),
        ann.create(store, ANALYST, {"scene_id": later.id, "label": "perimeter_fence",
                                    "site_id": site.id, "geometry": line()}),
        ann.create(store, ANALYST, {"scene_id": later.id, "label": "construction",
                                    "change": "appeared", "change_scene_id": first.id,
                                    "note": "[SYNTHETIC] <b>W-9</b> & friends",
                                    "geometry": SQUARE}),
    ]
    return later, made


def ogrinfo(path) -> str:
    return subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(path)], check=True,
                          capture_output=True, text=True, timeout=60).stdout


@needs_ogr
def test_kml_read_by_ogrinfo_has_each_placemark_dated_by_the_scene(store, annotated, tmp_path):
    scene, made = annotated
    body, media = ann.export(store, ANALYST, scene.id, "kml")
    assert media == "application/vnd.google-earth.kml+xml"
    f = tmp_path / "a.kml"
    f.write_bytes(body)
    out = ogrinfo(f)
    # LIBKML gives each feature its TimeStamp as the `timestamp` field
    stamps = re.findall(r"timestamp \(DateTime\) = (\S+)", out)
    assert stamps == ["2016/10/21"] * 3, out
    assert len(re.findall(r"^\s*(POINT|LINESTRING|POLYGON)", out, re.M)) == 3
    assert f"Guard post or tower #{made[0]['id']}" in out
    assert re.search(r"label \(String\) = perimeter_fence", out)
    assert re.search(r"site_key \(String\) = camp-x", out)
    assert "W-9" not in out  # notes are never exported


def test_kml_is_well_formed_with_a_style_per_label_and_escaped_text(store, settings, tmp_path):
    scene = make_scene(store, settings, tmp_path, name="c.tif")
    # a sensor name with markup in it: text in the KML, never elements
    from geomap.store.schema import scenes

    with store.write() as conn:
        conn.execute(scenes.update().where(scenes.c.id == scene.id)
                     .values(sensor='Sat <x> & "y"'))
    ann.create(store, ANALYST, {"scene_id": scene.id, "label": "grave_burial",
                                "geometry": SQUARE})
    body, _ = ann.export(store, ANALYST, scene.id, "kml")
    root = ET.fromstring(body)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    styles = root.findall(".//k:Style", ns)
    assert {s.get("id") for s in styles} == {f"label-{k}" for k in ann.LABELS}
    pm = root.find(".//k:Placemark", ns)
    assert pm.find("k:styleUrl", ns).text == "#label-grave_burial"
    assert pm.find("k:TimeStamp/k:when", ns).text == "2014-05-01"
    sensor = [d for d in pm.findall(".//k:Data", ns) if d.get("name") == "sensor"][0]
    assert sensor.find("k:value", ns).text == 'Sat <x> & "y"'
    assert b"<x>" not in body


def test_geojson_round_trips_through_geopandas(store, annotated, tmp_path):
    import geopandas as gpd

    scene, made = annotated
    body, _ = ann.export(store, ANALYST, scene.id, "geojson")
    f = tmp_path / "a.geojson"
    f.write_bytes(body)
    df = gpd.read_file(f, engine="pyogrio")
    assert df.crs.to_epsg() == 4326
    assert list(df["label"]) == ["guard_post", "perimeter_fence", "construction"]
    assert set(df["scene_date"].astype(str)) == {"2016-10-21"}
    assert set(df["sensor"]) == {"TestSat-1"}
    assert list(df["site_key"].fillna("")) == ["", "camp-x", ""]
    assert df["length_m"][1] == pytest.approx(made[1]["length_m"])
    assert df["area_m2"][2] == pytest.approx(made[2]["area_m2"])
    for got, a in zip(df.geometry, made, strict=True):
        assert got.equals_exact(shape(a["geometry"]), 1e-9)
    assert "note" not in df.columns


@needs_ogr
def test_cli_writes_both_formats(store, settings, annotated, tmp_path):
    scene, _ = annotated
    runner = CliRunner()
    kml = tmp_path / "cli.kml"
    r = runner.invoke(main, ["--instance", str(settings.instance_path), "annotations", "export",
                             "--scene", scene.id, "--format", "kml", "-o", str(kml)])
    assert r.exit_code == 0, r.output
    assert re.findall(r"timestamp \(DateTime\) = (\S+)", ogrinfo(kml)) == ["2016/10/21"] * 3
    r = runner.invoke(main, ["--instance", str(settings.instance_path), "annotations", "export",
                             "--scene", scene.id])
    assert r.exit_code == 0
    assert len(json.loads(r.stdout_bytes)["features"]) == 3
    r = runner.invoke(main, ["--instance", str(settings.instance_path), "annotations", "export",
                             "--scene", "f" * 32])
    assert r.exit_code == 2 and "scene" in r.output.lower()
