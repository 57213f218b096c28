"""Offline basemap packages (raster MBTiles) and the opt-in online basemap: real SQLite MBTiles
files with PNG/JPEG tiles encoded by GDAL (rasterio; Pillow is not a dependency), installed
through the CLI, served by the real app."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

from geomap.cli import main
from geomap.config import load_settings
from geomap.errors import InvalidInput
from geomap.web import create_app

from .conftest import https_client, make_user, sign_in

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 160, 20)
NK_BOUNDS = "124.0,37.5,131.0,43.1"


def tile_bytes(colour, fmt="PNG") -> bytes:
    import numpy as np
    from rasterio.io import MemoryFile

    data = np.empty((3, 256, 256), dtype="uint8")
    for band, value in enumerate(colour):
        data[band] = value
    with MemoryFile() as mem:
        with mem.open(driver=fmt, width=256, height=256, count=3, dtype="uint8") as dst:
            dst.write(data)
        return mem.read()


def make_mbtiles(path, tiles, meta=None, *, tiles_table=True, drop=()):
    """An MBTiles file: `tiles` maps XYZ (z, x, y) to tile bytes, stored with MBTiles' TMS row
    (counted from the south)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    if tiles_table:
        conn.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                     "tile_row INTEGER, tile_data BLOB)")
        for (z, x, y), data in tiles.items():
            conn.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2**z - 1 - y, data))
    m = {"name": "test extract", "format": "png", "minzoom": "0", "maxzoom": "3",
         "bounds": "-180,-85,180,85", "attribution": "© Test contributors"}
    m.update(meta or {})
    for k in drop:
        m.pop(k)
    conn.executemany("INSERT INTO metadata VALUES (?, ?)", list(m.items()))
    conn.commit()
    conn.close()
    return path


def cli(instance, *args):
    return CliRunner().invoke(main, ["--instance", str(instance), *args])


@pytest.fixture
def instance(tmp_path):
    return tmp_path / "instance"


def pixel(data: bytes):
    from rasterio.io import MemoryFile

    with MemoryFile(data) as mem, mem.open() as src:
        return tuple(int(v) for v in src.read()[:3, 128, 128])


@pytest.fixture
def pkg_app(instance, tmp_path):
    """An instance with a package `nk` installed (z1-3, North Korea's box), signed-in client."""
    src = make_mbtiles(tmp_path / "North Korea.mbtiles", {
        # XYZ (3, 6, 3) holds North Korea; MBTiles stores it at TMS row 4, and the tile at
        # TMS row 3 (XYZ (3, 6, 4), outside the box) is blue: read unflipped, 3/6/3 is blue
        (3, 6, 3): tile_bytes(RED), (3, 6, 4): tile_bytes(BLUE),
        (1, 1, 0): tile_bytes(RED), (1, 1, 1): tile_bytes(GREEN),  # the second outside the box
        (3, 0, 0): tile_bytes(RED),  # outside the box
    }, {"minzoom": "1", "bounds": NK_BOUNDS,
        "attribution": '<a href="https://osm.org/copyright">© OpenStreetMap</a> '
                       "contributors <img src=x onerror=alert(1)><script>alert(2)</script>"})
    r = cli(instance, "basemap", "install", str(src), "--name", "nk")
    assert r.exit_code == 0, r.output
    settings = load_settings(instance)
    app = create_app(settings)
    app.config["TESTING"] = True
    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store, "viewer")
    yield app, sign_in(https_client(app), user.username, secret)
    store.close()


def test_installed_package_tiles_are_served_with_the_tms_row_flipped(pkg_app):
    _, client = pkg_app
    r = client.get("/tiles/basemap-pkg/nk/3/6/3.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert pixel(r.data) == RED
    # XYZ (1, 1, 0) is the north-east quarter: stored at TMS row 1
    assert pixel(client.get("/tiles/basemap-pkg/nk/1/1/0.png").data) == RED
    # revalidation: 304 on the ETag, no body
    again = client.get("/tiles/basemap-pkg/nk/3/6/3.png", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert "private" in r.headers["Cache-Control"]


@pytest.mark.parametrize("url", [
    "/tiles/basemap-pkg/nk/0/0/0.png",      # below the package's minzoom
    "/tiles/basemap-pkg/nk/4/12/5.png",     # above its maxzoom
    "/tiles/basemap-pkg/nk/3/0/0.png",      # stored, but outside the package's bounds
    "/tiles/basemap-pkg/nk/3/6/4.png",      # the same
    "/tiles/basemap-pkg/nk/1/1/1.png",      # the same
    "/tiles/basemap-pkg/nk/2/3/1.png",      # inside the zooms and the box, no such tile
    "/tiles/basemap-pkg/nk/1/1/0.jpg",      # not the package's format
    "/tiles/basemap-pkg/nk/1/2/0.png",      # x beyond the zoom's grid
    "/tiles/basemap-pkg/other/1/1/0.png",   # no such package
    "/tiles/basemap-pkg/..%2Fgeomap/1/1/0.png",
    "/tiles/basemap-pkg/NK/1/1/0.png",
])
def test_tiles_outside_a_package_are_404(pkg_app, url):
    _, client = pkg_app
    assert client.get(url).status_code == 404


def test_package_tiles_need_a_signed_in_account(pkg_app):
    app, _ = pkg_app
    r = https_client(app).get("/tiles/basemap-pkg/nk/1/1/0.png")
    assert r.status_code == 401 and r.is_json


def test_list_json_is_pure_json_and_attribution_is_kept_as_text(pkg_app, instance):
    r = CliRunner().invoke(main, ["--instance", str(instance), "basemap", "list", "--json"])
    assert r.exit_code == 0
    [pkg] = json.loads(r.stdout)
    assert pkg["name"] == "nk" and pkg["format"] == "png"
    assert (pkg["minzoom"], pkg["maxzoom"]) == (1, 3)
    assert pkg["bounds"] == [124.0, 37.5, 131.0, 43.1]
    assert pkg["attribution"] == "© OpenStreetMap contributors"  # words kept, markup dropped
    assert len(pkg["sha256"]) == 64 and pkg["tiles"] == 5


def test_the_map_pages_use_the_package_over_the_relief(pkg_app):
    app, client = pkg_app
    html = client.get("/").get_data(as_text=True)
    assert "/tiles/basemap-pkg/nk/{z}/{x}/{y}.png" in html
    assert "geomap.packageBasemap(" in html
    assert "Offline basemap: nk" in html and "Relief (offline)" in html
    assert "<img src=x" not in html and "alert(2)" not in html
    store = app.extensions["geomap_store"]
    from geomap.demo import load_reference_data

    load_reference_data(store)
    dossier = client.get("/sites/kwalliso-15-yodok").get_data(as_text=True)
    assert "/tiles/basemap-pkg/nk/{z}/{x}/{y}.png" in dossier


def test_removing_a_package_takes_it_off_the_maps(pkg_app, instance):
    _, client = pkg_app
    r = cli(instance, "basemap", "remove", "nk")
    assert r.exit_code == 0 and "removed basemap nk" in r.output
    assert client.get("/tiles/basemap-pkg/nk/1/1/0.png").status_code == 404
    assert "basemap-pkg" not in client.get("/").get_data(as_text=True)
    assert list((instance / "basemaps").iterdir()) == []
    r = cli(instance, "basemap", "remove", "nk")
    assert r.exit_code != 0 and "no basemap named 'nk'" in r.output


def _refusal(tmp_path, instance, maker, *args) -> str:
    src = maker(tmp_path)
    r = cli(instance, "basemap", "install", str(src), *args)
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    # one line saying what is wrong (after the copy's progress bar on stderr)
    assert r.stdout == "" and r.stderr.splitlines()[-1].startswith("Error: "), r.output
    leftovers = list((instance / "basemaps").iterdir()) if (instance / "basemaps").exists() else []
    assert leftovers == []  # nothing kept of a refused file
    return r.output


def _text_file(path):
    path.write_text("just text, not a database")
    return path


def _png(tiles=None, **kw):
    tiles = {(0, 0, 0): tile_bytes(RED)} if tiles is None else tiles
    return lambda d: make_mbtiles(d / "t.mbtiles", tiles, **kw)


@pytest.mark.parametrize("maker, words", [
    (lambda d: _text_file(d / "t.mbtiles"), "not an SQLite database"),
    (_png(tiles_table=False), "no 'tiles' table"),
    (_png(meta={"format": "pbf"}), "vector tiles (pbf)"),
    (_png(meta={"format": "tiff"}), "'tiff' is not one of png, jpg, webp"),
    (_png(drop=("format",)), "'(missing)' is not one of"),
    (_png(meta={"maxzoom": "99"}), "maxzoom: 99 is outside 0..22"),
    (_png({(30, 0, 0): tile_bytes(RED)}), "zoom levels 30..30"),
    (_png(meta={"minzoom": "3", "maxzoom": "1"}), "minzoom 3 is above maxzoom 1"),
    (_png({(0, 0, 0): tile_bytes(RED, "JPEG")}), "declares png tiles but a tile at zoom 0 is jpg"),
    (_png({(0, 0, 0): b"<svg></svg>"}), "is not a png, jpg or webp image"),
    (_png({}), "holds no tiles"),
    (_png(meta={"bounds": "131,37,124,43"}), "metadata bounds"),
    (_png(meta={"bounds": "nan,1,2,3"}), "metadata bounds"),
    (_png(meta={"bounds": "1,2,3"}), "is not 'west,south,east,north'"),
])
def test_install_refuses_what_is_not_a_raster_mbtiles(tmp_path, instance, maker, words):
    assert words in _refusal(tmp_path, instance, maker)


def test_install_refuses_a_bad_name_and_a_second_package_of_the_same_name(tmp_path, instance):
    assert "basemap name 'Bad Name!'" in _refusal(tmp_path, instance, _png(), "--name", "Bad Name!")
    (tmp_path / "good").mkdir()
    src = _png()(tmp_path / "good")
    assert cli(instance, "basemap", "install", str(src), "--name", "a").exit_code == 0
    r = cli(instance, "basemap", "install", str(src), "--name", "a")
    assert r.exit_code != 0 and "a basemap named 'a' is installed" in r.output
    assert sorted(p.name for p in (instance / "basemaps").iterdir()) == ["a.json", "a.mbtiles"]


def test_a_jpeg_package_is_served_as_jpeg_and_the_default_name_comes_from_the_file(tmp_path,
                                                                                   instance):
    src = make_mbtiles(tmp_path / "OSM Extract (2026).mbtiles",
                       {(0, 0, 0): tile_bytes(BLUE, "JPEG")}, {"format": "jpg", "maxzoom": "0"})
    r = cli(instance, "basemap", "install", str(src))
    assert r.exit_code == 0, r.output
    assert "installed basemap osm-extract-2026: 1 jpg tiles" in r.output
    app = create_app(load_settings(instance))
    user, secret, _ = make_user(app.extensions["geomap_store"], "viewer")
    client = sign_in(https_client(app), user.username, secret)
    r = client.get("/tiles/basemap-pkg/osm-extract-2026/0/0/0.jpg")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    app.extensions["geomap_store"].close()


# -- the online basemap: off unless an administrator sets it ------------------------------------
def _img_src(resp) -> str:
    return next(d for d in resp.headers["Content-Security-Policy"].split("; ")
                if d.startswith("img-src"))


def test_online_basemap_is_off_by_default(client):
    r = client.get("/")
    assert _img_src(r) == "img-src 'self' data:"
    html = r.get_data(as_text=True)
    assert "gm-online-warning" not in html and "onlineBasemap(" not in html
    assert "https://" not in html.replace("https://localhost", "")


def test_online_basemap_when_set_is_warned_about_and_only_its_origin_is_allowed(demo_instance):
    settings, store = demo_instance
    on = replace(settings, online_basemap_url="https://tiles.example.org/osm/{z}/{x}/{y}.png",
                 online_basemap_attribution="<b>Example</b> tiles")
    app = create_app(on, store)
    app.config["TESTING"] = True
    user, secret, _ = make_user(store, "viewer")
    client = sign_in(https_client(app), user.username, secret)
    r = client.get("/")
    assert _img_src(r) == "img-src 'self' data: https://tiles.example.org"
    html = r.get_data(as_text=True)
    assert "https://tiles.example.org/osm/{z}/{x}/{y}.png" in html
    assert "tiles come from tiles.example.org, which sees which area you look at" in html
    assert "<b>Example</b>" not in html  # the attribution goes in as JSON, escaped in the page
    ko = client.get("/?lang=ko").get_data(as_text=True)
    assert "tiles.example.org" in ko and "tiles come from" not in ko
    # the API and the other pages get the same, single extra origin
    assert _img_src(client.get("/api/sites")) == "img-src 'self' data: https://tiles.example.org"


@pytest.mark.parametrize("template", [
    "http://tiles.example.org/{z}/{x}/{y}.png",
    "https://tiles.example.org/{z}/{x}.png",
    "https://tiles.example.org/{z}/{x}/{y}.png; script-src *",
    "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
    "https://user:pw@tiles.example.org/{z}/{x}/{y}.png",
    "tiles.example.org/{z}/{x}/{y}.png",
])
def test_a_bad_online_basemap_template_is_refused_at_start(tmp_path, monkeypatch, template):
    monkeypatch.setenv("GEOMAP_ONLINE_BASEMAP_URL", template)
    with pytest.raises(InvalidInput, match="GEOMAP_ONLINE_BASEMAP_URL"):
        load_settings(tmp_path / "instance")


def test_the_cli_says_what_is_wrong_with_the_online_basemap_setting(tmp_path):
    env = {**os.environ, "GEOMAP_INSTANCE": str(tmp_path / "inst"),
           "GEOMAP_ONLINE_BASEMAP_URL": "http://tiles.example.org/{z}/{x}/{y}.png"}
    env.pop("DATABASE_URL", None)
    r = subprocess.run([sys.executable, "-m", "geomap.cli", "serve"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "GEOMAP_ONLINE_BASEMAP_URL" in r.stderr and "is not an https URL" in r.stderr


# -- PMTiles v3 ---------------------------------------------------------------------------------
def make_pmtiles(path, tiles, *, tile_type="PNG", meta=None, bounds=(124.0, 37.5, 131.0, 43.1)):
    """A PMTiles v3 archive written with protomaps' own writer; `tiles` by XYZ (z, x, y)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    w_, s_, e_, n_ = (round(v * 1e7) for v in bounds)
    with open(path, "wb") as f:
        w = Writer(f)
        for tid, data in sorted((zxy_to_tileid(*k), v) for k, v in tiles.items()):
            w.write_tile(tid, data)
        w.finalize({"tile_type": TileType[tile_type], "tile_compression": Compression.NONE,
                    "min_lon_e7": w_, "min_lat_e7": s_, "max_lon_e7": e_, "max_lat_e7": n_},
                   {"attribution": "© PM <b>contributors</b>", **(meta or {})})
    return path


def test_a_pmtiles_package_is_served_like_an_mbtiles_one(tmp_path, instance):
    src = make_pmtiles(tmp_path / "nk.pmtiles", {
        (3, 6, 3): tile_bytes(RED), (3, 6, 4): tile_bytes(BLUE), (4, 13, 6): tile_bytes(GREEN),
        (3, 0, 0): tile_bytes(RED)})
    r = cli(instance, "basemap", "install", str(src))
    assert r.exit_code == 0, r.output
    assert "installed basemap nk: 4 png tiles, zoom 3-4" in r.output
    [pkg] = json.loads(cli(instance, "basemap", "list", "--json").stdout)
    assert pkg["kind"] == "pmtiles" and pkg["attribution"] == "© PM contributors"
    app = create_app(load_settings(instance))
    user, secret, _ = make_user(app.extensions["geomap_store"], "viewer")
    client = sign_in(https_client(app), user.username, secret)
    assert pixel(client.get("/tiles/basemap-pkg/nk/3/6/3.png").data) == RED  # XYZ, no flip
    assert pixel(client.get("/tiles/basemap-pkg/nk/4/13/6.png").data) == GREEN
    for url in ("/tiles/basemap-pkg/nk/3/0/0.png", "/tiles/basemap-pkg/nk/2/3/1.png",
                "/tiles/basemap-pkg/nk/5/27/12.png", "/tiles/basemap-pkg/nk/3/6/4.png"):
        assert client.get(url).status_code == 404, url
    assert cli(instance, "basemap", "remove", "nk").exit_code == 0
    assert list((instance / "basemaps").iterdir()) == []
    app.extensions["geomap_store"].close()


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    return path


@pytest.mark.parametrize("maker, words", [
    (lambda d: make_pmtiles(d / "t.pmtiles", {(0, 0, 0): b"\x1a\x03mvt"}, tile_type="MVT"),
     "holds vector tiles (mvt)"),
    (lambda d: make_pmtiles(d / "t.pmtiles", {(0, 0, 0): tile_bytes(RED, "JPEG")}),
     "declares png tiles but a tile at zoom 0 is jpg"),
    (lambda d: _cut(make_pmtiles(d / "t.pmtiles", {(0, 0, 0): tile_bytes(RED)})),
     "lies outside the file"),
    (lambda d: make_pmtiles(d / "t.pmtiles", {(0, 0, 0): tile_bytes(RED)},
                            bounds=(131, 37, 124, 43)), "header bounds"),
    (lambda d: (d / "t.pmtiles").write_bytes(b"PMTiles\x02" + bytes(200)) and d / "t.pmtiles",
     "PMTiles version 2; only version 3"),
])
def test_install_refuses_what_is_not_a_raster_pmtiles_v3(tmp_path, instance, maker, words):
    assert words in _refusal(tmp_path, instance, maker)
