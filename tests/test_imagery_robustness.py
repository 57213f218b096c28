"""Imagery surviving what the real world sends (issue 9, items 19-24): broken working copies,
hostile or damaged uploads, publishable catalogues, tile clients that cannot sign in."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import tempfile
from datetime import date
from html import unescape
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.transform import from_bounds
from rasterio.windows import Window

from geomap.cli import main
from geomap.errors import InvalidInput
from geomap.imagery import Limits, ingest

from .conftest import csrf_from, https_client, make_user, sign_in
from .test_imagery import LL_BOUNDS, UTM_BOUNDS, make_tif


@pytest.fixture
def imagery_root(settings):
    return settings.instance_path / "imagery"


def _nothing_left(root: Path) -> None:
    assert not root.exists() or list(root.iterdir()) == [], list(root.iterdir())


def _refused(f, root, why, **kwargs):
    with pytest.raises(InvalidInput, match=why) as e:
        ingest(f, root, date(2014, 1, 1), actor="t", **kwargs)
    _nothing_left(root)
    return str(e.value)


def sparse_tif(path, width, height, bands):
    """A GeoTIFF that declares width x height x bands but holds one written block (GDAL omits
    empty blocks with SPARSE_OK): a few KB on disk."""
    size_px = 512 if width > 512 else 256
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=bands,
                       dtype="uint8", crs="EPSG:32652", compress="deflate", tiled=True,
                       blockxsize=size_px, blockysize=size_px, sparse_ok=True,
                       interleave="pixel",
                       transform=from_bounds(325_000, 4_395_000, 325_000 + width,
                                             4_395_000 + height, width, height)) as dst:
        if bands <= 16:
            dst.write(np.full((bands, size_px, size_px), 7, dtype="uint8"),
                      window=Window(0, 0, size_px, size_px))
    return path


# -- 24: declared sizes out of proportion, bands, time ---------------------------------------------
def test_a_tiny_file_declaring_a_huge_raster_is_refused(tmp_path, imagery_root):
    f = sparse_tif(tmp_path / "sparse.tif", 30_000, 30_000, 3)
    assert f.stat().st_size < 100_000  # the 29 KB of the report
    msg = _refused(f, imagery_root, "times its size")
    assert "30,000 x 30,000" in msg and "--max-expansion" in msg
    # the web applies the same setting (and its 0 means "no limit" for an administrator)
    from geomap.config import load_settings

    lenient = load_settings(tmp_path / "inst2", imagery_max_expansion=0)
    assert Limits.from_settings(lenient).max_expansion is None


def test_thousands_of_bands_are_refused(tmp_path, imagery_root):
    f = sparse_tif(tmp_path / "bands.tif", 256, 256, 24_065)
    assert f.stat().st_size < 1_000_000
    msg = _refused(f, imagery_root, "bands, more than the limit of 16")
    assert "24,065" in msg
    _refused(make_tif(tmp_path / "b17.tif", bands=17, size=64), imagery_root, "17 bands")
    ok = ingest(make_tif(tmp_path / "b16.tif", bands=16, size=64), imagery_root,
                date(2014, 1, 1), actor="t")
    assert ok.bands == 16


def test_conversion_past_its_time_budget_is_stopped_and_cleaned(tmp_path, imagery_root):
    # an administrator lifted the size check; the conversion still cannot run on for minutes
    f = sparse_tif(tmp_path / "slow.tif", 30_000, 30_000, 3)
    msg = _refused(f, imagery_root, "longer than the limit of 1 s",
                   limits=Limits(max_expansion=None, convert_s=1))
    assert "--time-limit" in msg
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("tmp*.tif")
                 if p.stat().st_size > 10_000_000]
    assert leftovers == []  # rio-cogeo's temporary file lived in the scene folder, now gone


def test_cli_refuses_a_huge_declared_raster_in_one_line_and_lets_an_admin_allow_it(
        tmp_path, settings):
    inst = str(settings.instance_path)
    f = sparse_tif(tmp_path / "sparse.tif", 30_000, 30_000, 3)
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(f), "--date",
                                  "2010-01-01"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert [ln for ln in r.output.splitlines() if ln.startswith("Error")][0].count("\n") == 0
    assert "times its size" in r.output
    # allowed by the administrator: it gets as far as the conversion, which has a budget
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(f), "--date",
                                  "2010-01-01", "--max-expansion", "0", "--time-limit", "1"])
    assert r.exit_code != 0 and "longer than the limit of 1 s" in r.output
    _nothing_left(settings.instance_path / "imagery")


# -- 23: GDAL / PROJ errors are refusals ------------------------------------------------------------
def _tif_with(path, crs, bounds, size=64):
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1,
                       dtype="uint8", crs=crs, transform=from_bounds(*bounds, size, size)) as d:
        d.write(np.full((1, size, size), 9, dtype="uint8"))
    return path


def _ifd_entries(raw: bytes):
    """(offset of the entry, tag, type, count, value) for each entry of a little-endian classic
    TIFF's first directory."""
    assert raw[:4] == b"II*\0"
    (ifd,) = struct.unpack_from("<I", raw, 4)
    (n,) = struct.unpack_from("<H", raw, ifd)
    for i in range(n):
        at = ifd + 2 + 12 * i
        yield (at, *struct.unpack_from("<HHII", raw, at))


@pytest.mark.parametrize("case", ["broken-directory", "tile-offsets-past-the-end",
                                  "crs-proj-cannot-transform", "geocentric-crs",
                                  "point-outside-the-projection-domain",
                                  "coordinates-off-the-earth"])
def test_mutated_geotiffs_are_refused_not_raw_gdal_errors(tmp_path, imagery_root, case):
    if case in ("broken-directory", "tile-offsets-past-the-end"):
        f = make_tif(tmp_path / "m.tif", size=256)
        raw = bytearray(f.read_bytes())
        for at, tag, _typ, _n, _v in _ifd_entries(bytes(raw)):
            if case == "broken-directory" and tag == 258:  # BitsPerSample: a bogus type
                struct.pack_into("<H", raw, at + 2, 99)
            if case == "tile-offsets-past-the-end" and tag == 324:  # TileOffsets -> nowhere
                struct.pack_into("<I", raw, at + 8, len(raw) * 4)
        f.write_bytes(bytes(raw))
        why = "damaged or truncated|not a readable GeoTIFF"
    elif case == "crs-proj-cannot-transform":
        local = CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1,AUTHORITY["EPSG","9001"]],'
                             'AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
        f = _tif_with(tmp_path / "m.tif", local, (0, 0, 640, 640))
        why = "cannot be converted to longitude and latitude"
    elif case == "geocentric-crs":
        f = _tif_with(tmp_path / "m.tif", "EPSG:4978", (0, 0, 640, 640))
        why = "cannot be converted to longitude and latitude"
    elif case == "point-outside-the-projection-domain":
        f = _tif_with(tmp_path / "m.tif", "+proj=ortho +lat_0=40 +lon_0=127 +R=6371000",
                      (9e6, 9e6, 9.5e6, 9.5e6))
        why = "cannot be converted to longitude and latitude"
    else:
        f = _tif_with(tmp_path / "m.tif", "EPSG:4326", (500, 100, 510, 110))
        why = "cannot be placed on the earth"
    msg = _refused(f, imagery_root, why, original_name="m.tif")
    assert msg.startswith("m.tif: ") and "\n" not in msg


def test_a_mutated_upload_is_a_400_not_a_500(ref_store, settings, tmp_path):
    c, token = _uploader(ref_store, settings)
    f = _tif_with(tmp_path / "m.tif", "+proj=ortho +lat_0=40 +lon_0=127 +R=6371000",
                  (9e6, 9e6, 9.5e6, 9.5e6))
    r = _upload(c, token, f, "camp-15-2004.tif")
    assert r.status_code == 400 and "longitude and latitude" in _error(r)
    _nothing_left(settings.instance_path / "imagery")


# -- 22: the user's file name, never the server's --------------------------------------------------
def _uploader(ref_store, settings):
    from geomap.web import create_app

    app = create_app(settings, ref_store)
    analyst, secret, _ = make_user(ref_store, "analyst")
    c = sign_in(https_client(app), analyst.username, secret)
    return c, csrf_from(c.get("/imagery/").data.decode())


def _upload(c, token, path, name, lang="en"):
    with open(path, "rb") as fh:
        return c.post("/imagery/", data={"csrf_token": token, "file": (fh, name),
                                         "date": "2011-07-08"},
                      content_type="multipart/form-data", headers={"Accept-Language": lang})


def _error(r) -> str:
    m = re.search(r'<p class="gm-error" role="alert">(.*?)</p>', r.data.decode(), re.S)
    assert m, r.data[:500]
    return unescape(m.group(1))


def test_upload_errors_name_the_users_file_not_the_temp_file(ref_store, settings, tmp_path):
    c, token = _uploader(ref_store, settings)
    truncated = make_tif(tmp_path / "t.tif", size=1024)
    truncated.write_bytes(truncated.read_bytes()[:200_000])
    not_tiff = tmp_path / "n.tif"
    not_tiff.write_bytes(b"<VRTDataset rasterXSize='1'></VRTDataset>")
    plain = tmp_path / "p.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=32, height=32, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((1, 32, 32), dtype="uint8"))
    bogus = bytearray(make_tif(tmp_path / "b.tif", size=256).read_bytes())
    for at, tag, *_ in _ifd_entries(bytes(bogus)):
        if tag == 324:
            struct.pack_into("<I", bogus, at + 8, len(bogus) * 4)
    (tmp_path / "b.tif").write_bytes(bytes(bogus))
    files = {
        "not a TIFF": not_tiff, "truncated": truncated, "no georeferencing": plain,
        "broken tile offsets": tmp_path / "b.tif",
        "declares too much": sparse_tif(tmp_path / "s.tif", 30_000, 30_000, 3),
        "too many bands": sparse_tif(tmp_path / "k.tif", 256, 256, 300),
        "outside the projection": _tif_with(tmp_path / "o.tif", "EPSG:32652",
                                            (1e9, 1e9, 1.1e9, 1.1e9)),
    }
    instance = str(settings.instance_path)
    for what, f in files.items():
        user_name = "요덕 수용소 2004-05 (Maxar).tif"
        r = _upload(c, token, f, user_name)
        msg = _error(r)
        assert r.status_code == 400, (what, msg)
        assert user_name in msg, (what, msg)
        assert "upload.tif" not in msg and "geomap-upload-" not in msg, (what, msg)
        assert tempfile.gettempdir() not in msg and instance not in msg, (what, msg)
        assert "original.tif" not in msg and "cog.tif" not in msg, (what, msg)
    _nothing_left(settings.instance_path / "imagery")
    ko = _error(_upload(c, token, not_tiff, user_name, lang="ko"))
    assert ko.startswith("추가하지 않았습니다: ") and user_name in ko
    # a name sent with the sender's folders (old browsers) keeps only its last part
    from geomap.imagery import display_name

    assert display_name("C:\\Users\\a\\Desktop\\요덕.tif") == "요덕.tif"
    assert display_name("../../x\x00\n.tif") == "x.tif"


# -- 19: an unreadable working copy is skipped -----------------------------------------------------
def test_an_unreadable_cog_does_not_break_the_map_page(ref_store, settings, tmp_path, caplog):
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    root = settings.instance_path / "imagery"
    good, broken, gone = (
        ingest(make_tif(tmp_path / f"{n}.tif", bands=b), root, date(2014, 5, d), actor="t",
               sensor=f"SAT-{n.upper()}")
        for n, b, d in (("good", 3, 1), ("broken", 1, 2), ("gone", 2, 3)))
    for s in (good, broken, gone):
        SceneStore(ref_store).add(s, actor="t")
    (root / broken.id / "cog.tif").write_bytes(b"II*\0" + b"\xff" * 1000)  # damaged on disk
    (root / gone.id / "cog.tif").unlink()  # lost
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    c = sign_in(https_client(app), user.username, secret)
    caplog.set_level(logging.WARNING)
    pages = {"map": "/", "catalogue": "/imagery/", "compare": "/imagery/compare",
             "compare-asking-for-the-broken-one": f"/imagery/compare?a={broken.id}&b={gone.id}"}
    for what, url in pages.items():
        r = c.get(url)
        html = r.data.decode()
        assert r.status_code == 200, (what, html[:300])
        assert good.id in html, what
        assert broken.id not in html and gone.id not in html, what
    # the dossier of a site next to the scenes lists only the good one
    site = min((s for s in ref_store.sites(_system()) if s.geometry is not None),
               key=lambda s: s.geometry.distance(good.footprint))
    dossier = c.get(f"/sites/{site.key}").data.decode()
    assert good.sha256[:16] in dossier and broken.sha256[:16] not in dossier
    assert broken.id in caplog.text and gone.id in caplog.text  # logged, for an administrator
    assert c.get(f"/tiles/{broken.id}/tilejson.json").status_code == 404
    centre = good.footprint.centroid
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(centre.x, centre.y, 15)
    assert c.get(f"/tiles/{broken.id}/{t.z}/{t.x}/{t.y}.png").status_code == 404
    assert c.get(f"/tiles/{good.id}/{t.z}/{t.x}/{t.y}.png").status_code == 200
    # the command line names them for an administrator, and leaves them out of a catalogue
    inst = str(settings.instance_path)
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "verify"])
    assert r.exit_code == 1 and f"{broken.id}: working copy unreadable" in r.output
    assert f"{gone.id}: working copy missing" in r.output
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(tmp_path / "s"),
                                  "--tier", "internal"])
    assert r.exit_code == 0 and "1 STAC items" in r.output, r.output


def _system():
    from geomap.policy import SYSTEM

    return SYSTEM


# -- 21: tile clients get a 401 they can read --------------------------------------------------------
def test_signed_out_tile_request_gets_401_not_a_login_page(ref_store, settings, tmp_path):
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    s = ingest(make_tif(tmp_path / "a.tif"), settings.instance_path / "imagery",
               date(2014, 5, 1), actor="t")
    SceneStore(ref_store).add(s, actor="t")
    anon = https_client(create_app(settings, ref_store))
    for url in (f"/tiles/{s.id}/15/27896/12651.png", f"/tiles/{s.id}/tilejson.json",
                "/tiles/basemap/5/27/12.png", "/tiles/nothing-here", "/api/sites"):
        r = anon.get(url)
        assert r.status_code == 401, (url, r.status_code, r.headers.get("Location"))
        assert r.mimetype == "application/json" and r.get_json()["error"], url
        assert r.headers["WWW-Authenticate"], url
        assert "Location" not in r.headers, url
    assert anon.get("/imagery/").status_code == 302  # pages still go to the sign-in page


# -- 19 + 20: the STAC catalogue is a publication that a client can open ---------------------------
@pytest.fixture
def three_tiers(settings, tmp_path):
    inst = str(settings.instance_path)
    made = {}
    for tier, licence, bounds, crs in (
            ("public", "cc-by-4.0", UTM_BOUNDS, "EPSG:32652"),
            ("partner", "© Maxar Technologies 2014, licensed to the NGO for research",
             LL_BOUNDS, "EPSG:4326"),
            ("internal", "Airbus DS contract 2019/117 — not for redistribution", UTM_BOUNDS,
             "EPSG:32652")):
        f = make_tif(tmp_path / f"{tier}.tif", crs=crs, bounds=bounds,
                     size=256 if tier != "internal" else 128,
                     dtype="uint8" if tier != "partner" else "uint16", bands=3)
        r = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(f), "--date",
                                      "2014-05-01", "--sensor", f"SAT-{tier}", "--licence",
                                      licence, "--tier", tier])
        assert r.exit_code == 0, r.output
        made[tier] = (re.search(r"scene ([0-9a-f]{32})", r.output).group(1), licence)
    return inst, made


def test_stac_leaves_out_internal_scenes_and_keeps_non_spdx_licences(three_tiers, tmp_path):
    inst, made = three_tiers
    out = tmp_path / "stac"
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(out)])
    assert r.exit_code == 0, r.output
    assert "1 STAC items" in r.output and "left out 2 scenes" in r.output
    assert "1 internal" in r.output and "1 partner" in r.output
    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    assert [i.id for i in cat.get_items(recursive=True)] == [made["public"][0]]
    assert not list(out.glob(f"**/{made['internal'][0]}*"))
    [item] = cat.get_items(recursive=True)
    assert item.properties["license"] == "CC-BY-4.0"  # an SPDX id, in its canonical case
    # widened on request; a re-run replaces the catalogue as a whole
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(out), "--tier",
                                  "internal"])
    assert r.exit_code == 0 and "3 STAC items" in r.output and "left out" not in r.output
    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    cat.validate_all()
    items = {i.id: i for i in cat.get_items(recursive=True)}
    for tier in ("partner", "internal"):
        item = items[made[tier][0]]
        assert item.properties["license"] == "other"  # STAC: not on the SPDX list
        [link] = item.get_links("license")
        text = Path(link.get_absolute_href()).read_text(encoding="utf-8")
        assert text.strip() == made[tier][1]
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(out)])
    assert r.exit_code == 0
    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    assert [i.id for i in cat.get_items(recursive=True)] == [made["public"][0]]
    assert not list(out.glob(f"**/{made['internal'][0]}*"))  # nothing left from the last run


def _open_every_asset(catalog_json: Path) -> int:
    cat = pystac.Catalog.from_file(str(catalog_json))
    n = 0
    for item in cat.get_items(recursive=True):
        assert set(item.assets) == {"original", "cog"}
        for key, asset in item.assets.items():
            href = asset.get_absolute_href()
            assert href and Path(href).is_file(), (item.id, key, href)
            with rasterio.open(href) as ds:
                assert ds.count == item.properties["geomap:bands"]
            if key == "original":
                digest = hashlib.sha256(Path(href).read_bytes()).hexdigest()
                assert digest == item.properties["geomap:sha256"]
            n += 1
    return n


def test_stac_assets_resolve_and_open(three_tiers, tmp_path):
    inst, made = three_tiers
    out = tmp_path / "published" / "stac"
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(out), "--tier",
                                  "internal"])
    assert r.exit_code == 0, r.output
    assert _open_every_asset(out / "catalog.json") == 6
    raw = json.loads(next(out.glob("*/*.json")).read_text())
    assert not any(a["href"].startswith("/") for a in raw["assets"].values())  # relative
    # with copies, the catalogue is a folder that can be handed over and opened elsewhere
    portable = tmp_path / "portable"
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(portable),
                                  "--copy-assets"])
    assert r.exit_code == 0, r.output
    moved = tmp_path / "elsewhere" / "stac"
    moved.parent.mkdir()
    portable.rename(moved)
    assert _open_every_asset(moved / "catalog.json") == 2


def test_stac_refuses_to_write_over_a_folder_that_is_not_a_catalogue(three_tiers, tmp_path):
    inst, _ = three_tiers
    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "stac", str(out)])
    assert r.exit_code != 0 and "not a geomap imagery catalogue" in r.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
