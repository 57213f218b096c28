"""Imagery ingest, catalogue and tiles with small GeoTIFFs the tests make."""

from __future__ import annotations

import struct
from datetime import date

import morecantile
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_bounds

from geomap.cli import main
from geomap.errors import InvalidInput
from geomap.imagery import ingest, sha256_file

from .conftest import https_client, make_user, sign_in

TMS = morecantile.tms.get("WebMercatorQuad")


class mercantile:  # noqa: N801 - the two calls the tests need, from morecantile
    @staticmethod
    def tile(lon, lat, z):
        return TMS.tile(lon, lat, z)


# a 2 x 2 km area near Yodok, in UTM 52N and in WGS84
UTM_BOUNDS = (325_000.0, 4_395_000.0, 327_000.0, 4_397_000.0)
LL_BOUNDS = (126.88, 39.70, 126.91, 39.72)


def make_tif(path, crs="EPSG:32652", bounds=UTM_BOUNDS, dtype="uint8", bands=3, size=512,
             nodata=None, mask=False):
    """Left half red-ish (band 1 = 200), right half blue-ish; a nodata/masked bottom quarter."""
    data = np.zeros((bands, size, size), dtype=dtype)
    hi = 200 if dtype == "uint8" else 3000
    data[0, :, : size // 2] = hi
    data[-1, :, size // 2:] = hi
    if nodata is not None:
        data[:, 3 * size // 4:, :] = nodata
    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": dtype,
               "crs": crs, "transform": from_bounds(*bounds, size, size), "nodata": nodata,
               "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if mask:
            m = np.full((size, size), 255, dtype="uint8")
            m[3 * size // 4:, :] = 0
            dst.write_mask(m)
    return path


def decode(data: bytes) -> np.ndarray:
    """An image response as an (h, w, bands) array, decoded by GDAL."""
    with rasterio.MemoryFile(data) as mem, mem.open() as ds:
        return np.moveaxis(ds.read(), 0, -1)


def _centre_tile(bounds_ll, z=15):
    lon = (bounds_ll[0] + bounds_ll[2]) / 2
    lat = (bounds_ll[1] + bounds_ll[3]) / 2
    return mercantile.tile(lon, lat, z)


@pytest.fixture
def imagery_root(settings):
    return settings.instance_path / "imagery"


# -- ingest ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["utm-8bit-rgb", "wgs84-16bit-nodata", "utm-8bit-mask"])
def test_ingest_keeps_a_hashed_readonly_original_and_a_valid_cog(tmp_path, imagery_root, kind):
    from rio_cogeo.cogeo import cog_validate

    if kind == "utm-8bit-rgb":
        f = make_tif(tmp_path / "a.tif")
    elif kind == "wgs84-16bit-nodata":
        f = make_tif(tmp_path / "a.tif", crs="EPSG:4326", bounds=LL_BOUNDS, dtype="uint16",
                     bands=1, nodata=0)
    else:
        f = make_tif(tmp_path / "a.tif", mask=True)
    scene = ingest(f, imagery_root, date(2014, 5, 1), actor="t", sensor="test")
    d = imagery_root / scene.id
    assert sha256_file(d / "original.tif") == sha256_file(f) == scene.sha256
    assert not (d / "original.tif").stat().st_mode & 0o222  # read-only
    assert cog_validate(d / "cog.tif", quiet=True)[0]
    lon0, lat0, lon1, lat1 = scene.footprint.bounds
    assert 126.8 < lon0 < lon1 < 127.1 and 39.6 < lat0 < lat1 < 39.8
    assert 3 < scene.res_m < 5 if kind != "wgs84-16bit-nodata" else 4 < scene.res_m < 7
    if kind != "utm-8bit-rgb":
        # the footprint is where the data is: the invalid bottom quarter is left out
        from pyproj import Transformer

        if kind == "wgs84-16bit-nodata":
            south, north = LL_BOUNDS[1], LL_BOUNDS[3]
        else:
            to_ll = Transformer.from_crs(32652, 4326, always_xy=True)
            south = to_ll.transform(UTM_BOUNDS[0], UTM_BOUNDS[1])[1]
            north = to_ll.transform(UTM_BOUNDS[0], UTM_BOUNDS[3])[1]
        assert lat0 == pytest.approx(south + (north - south) / 4, abs=(north - south) * 0.03)


def _bad(f, imagery_root, why):
    with pytest.raises(InvalidInput, match=why):
        ingest(f, imagery_root, date(2014, 1, 1), actor="t")
    assert not imagery_root.exists() or list(imagery_root.iterdir()) == []  # nothing written


def test_a_vrt_renamed_tif_is_refused(tmp_path, imagery_root):
    src = make_tif(tmp_path / "real.tif")
    vrt = tmp_path / "x.tif"
    with rasterio.open(src) as ds:
        from rasterio.vrt import WarpedVRT

        with WarpedVRT(ds) as v:
            from rasterio.shutil import copy

            copy(v, tmp_path / "x.vrt", driver="VRT")
    vrt.write_bytes((tmp_path / "x.vrt").read_bytes())
    _bad(vrt, imagery_root, "not a readable GeoTIFF")


def test_a_small_file_declaring_a_huge_image_is_refused_before_reading(tmp_path,
                                                                       imagery_root):
    # a hand-made TIFF header declaring 200,000 x 200,000 pixels, padded to 1 MB
    entries = [(256, 4, 1, 200_000), (257, 4, 1, 200_000), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 1024), (277, 3, 1, 1), (278, 4, 1, 200_000),
               (279, 4, 1, 1024)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, n, val) for tag, typ, n, val in entries) + b"\0" * 4
    data = b"II*\0" + struct.pack("<I", 8) + ifd
    f = tmp_path / "huge.tif"
    f.write_bytes(data + b"\0" * (1_000_000 - len(data)))
    _bad(f, imagery_root, "more than the limit")


def test_a_truncated_tiff_is_refused_and_nothing_kept(tmp_path, imagery_root):
    f = make_tif(tmp_path / "t.tif", size=1024)
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 3])
    _bad(f, imagery_root, "damaged or truncated|not a readable GeoTIFF")


def test_a_png_without_georeferencing_is_refused(tmp_path, imagery_root):
    import warnings

    png = tmp_path / "photo.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(png, "w", driver="PNG", width=64, height=64, count=3,
                           dtype="uint8") as dst:
            dst.write(np.full((3, 64, 64), 30, dtype="uint8"))
    f = tmp_path / "photo.tif"
    f.write_bytes(png.read_bytes())
    _bad(f, imagery_root, "not a readable GeoTIFF")
    g = tmp_path / "plain.tif"  # a real TIFF, but placed nowhere
    with rasterio.open(g, "w", driver="GTiff", width=32, height=32, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((1, 32, 32), dtype="uint8"))
    _bad(g, imagery_root, "no georeferencing")


def test_remote_paths_are_refused_without_a_request(imagery_root):
    _bad("/vsicurl/http://127.0.0.1:9/x.tif", imagery_root, "only local files")


# -- catalogue and CLI ------------------------------------------------------------------------------
def test_cli_add_list_and_verify(tmp_path, settings):
    import json

    inst = str(settings.instance_path)
    f = make_tif(tmp_path / "scene.tif")
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(f), "--date",
                                  "2009-06-01", "--sensor", "TEST-SAT"])
    assert r.exit_code == 0, r.output
    again = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(f), "--date",
                                      "2009-06-01"])
    assert again.exit_code != 0 and "already scene" in again.output
    listed = json.loads(CliRunner().invoke(main, ["--instance", inst, "imagery", "list",
                                                  "--json"]).output)
    assert len(listed) == 1 and listed[0]["sensor"] == "TEST-SAT"
    assert listed[0]["footprint"]["type"] in ("Polygon", "MultiPolygon")
    ok = CliRunner().invoke(main, ["--instance", inst, "imagery", "verify"])
    assert ok.exit_code == 0 and "1 scenes verified" in ok.output
    original = settings.instance_path / "imagery" / listed[0]["id"] / "original.tif"
    original.chmod(0o644)
    with original.open("r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"tampered!!")
    bad = CliRunner().invoke(main, ["--instance", inst, "imagery", "verify"])
    assert bad.exit_code == 1 and "SHA-256 mismatch" in bad.output


# -- tiles ------------------------------------------------------------------------------------------
@pytest.fixture
def tiled(ref_store, settings, tmp_path):
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    scenes = {}
    for name, kwargs in {
        "rgb": {}, "u16": {"crs": "EPSG:4326", "bounds": LL_BOUNDS, "dtype": "uint16",
                           "bands": 1, "nodata": 0}}.items():
        f = make_tif(tmp_path / f"{name}.tif", **kwargs)
        s = ingest(f, settings.instance_path / "imagery", date(2014, 5, 1), actor="t")
        SceneStore(ref_store).add(s, actor="t")
        scenes[name] = s
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    return sign_in(https_client(app), user.username, secret), scenes


def test_a_tile_of_a_known_area_has_the_expected_pixels(tiled):
    client, scenes = tiled
    s = scenes["rgb"]
    lon0, lat0, lon1, lat1 = s.footprint.bounds
    # a z17 tile in the upper-left (red) quarter
    t = mercantile.tile(lon0 + (lon1 - lon0) * 0.2, lat1 - (lat1 - lat0) * 0.2, 17)
    r = client.get(f"/tiles/{s.id}/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    img = decode(r.data)
    assert img.shape[-1] == 4  # RGB + alpha from the mask
    red, alpha = img[..., 0], img[..., 3]
    assert (alpha == 255).mean() > 0.9 and abs(int(np.median(red[alpha == 255])) - 200) < 15
    assert np.median(img[..., 2][alpha == 255]) < 20  # no blue there


def test_16bit_data_is_rescaled_and_nodata_is_transparent(tiled):
    client, scenes = tiled
    s = scenes["u16"]
    lon0, lat0, lon1, lat1 = LL_BOUNDS
    # a tile across the bottom edge of the valid data (the nodata quarter starts at 1/4 height)
    t = mercantile.tile(lon0 + 0.004, lat0 + (lat1 - lat0) / 4, 17)
    r = client.get(f"/tiles/{s.id}/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 200, r.data[:200]
    img = decode(r.data)
    assert img.shape[-1] == 2  # grey + alpha
    assert (img[..., 1] == 0).any() and (img[..., 1] == 255).any()
    assert img[..., 0][img[..., 1] == 255].max() > 200  # 3000 of 16 bits shown bright


def test_tiles_outside_404_and_etags_answer_304(tiled):
    client, scenes = tiled
    s = scenes["rgb"]
    assert client.get(f"/tiles/{s.id}/15/0/0.png").status_code == 404
    assert client.get(f"/tiles/{'0' * 32}/15/0/0.png").status_code == 404
    assert client.get("/tiles/../../etc/passwd/1/0/0.png").status_code == 404
    t = _centre_tile(s.footprint.bounds, 15)
    r = client.get(f"/tiles/{s.id}/{t.z}/{t.x}/{t.y}.webp")
    assert r.status_code == 200 and r.mimetype == "image/webp"
    assert "max-age" in r.headers["Cache-Control"]
    r2 = client.get(f"/tiles/{s.id}/{t.z}/{t.x}/{t.y}.webp",
                    headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304 and r2.data == b""


def test_tilejson(tiled):
    client, scenes = tiled
    s = scenes["rgb"]
    doc = client.get(f"/tiles/{s.id}/tilejson.json").get_json()
    assert doc["tilejson"] == "3.0.0" and doc["tiles"][0].endswith("/{z}/{x}/{y}.png")
    assert doc["bounds"][0] < doc["bounds"][2] and doc["maxzoom"] >= doc["minzoom"]


def test_tiles_need_a_session(tiled, settings, ref_store):
    from geomap.web import create_app

    _, scenes = tiled
    anon = https_client(create_app(settings, ref_store))
    assert anon.get(f"/tiles/{scenes['rgb'].id}/15/0/0.png").status_code == 401


def test_stac_items_and_a_static_catalogue_validate(tmp_path, imagery_root):
    import json

    from geomap.stac import scene_item, write_catalogue

    s = ingest(make_tif(tmp_path / "s.tif"), imagery_root, date(2012, 3, 4), actor="t",
               sensor="TEST-SAT", provider="Test Provider", licence="CC-BY-4.0")
    item = scene_item(s)
    item.validate()
    assert item.properties["geomap:sha256"] == s.sha256 and item.properties["gsd"] == s.res_m
    assert item.datetime.date() == date(2012, 3, 4)
    write_catalogue([s], tmp_path / "stac", imagery_root)
    cat = json.loads((tmp_path / "stac" / "catalog.json").read_text())
    assert any(link["rel"] == "item" for link in cat["links"])


def test_imagery_page_lists_filters_and_adds_for_imagery_managers(ref_store, settings,
                                                                 tmp_path):
    from geomap.web import create_app

    from .conftest import csrf_from

    app = create_app(settings, ref_store)
    analyst, secret, _ = make_user(ref_store, "analyst")
    c = sign_in(https_client(app), analyst.username, secret)
    page = c.get("/imagery/").data.decode()
    token = csrf_from(page)
    f = make_tif(tmp_path / "up.tif")
    with f.open("rb") as fh:
        r = c.post("/imagery/", data={"csrf_token": token, "file": (fh, "../../evil name.tif"),
                                      "date": "2011-07-08", "sensor": "UP-SAT"},
                   content_type="multipart/form-data")
    html = r.data.decode()
    assert r.status_code == 200 and "Added scene 2011-07-08 UP-SAT" in html
    assert "UP-SAT" in c.get("/imagery/?since=2011-01-01").data.decode()
    assert "UP-SAT" not in c.get("/imagery/?until=2010-12-31").data.decode()
    assert c.get("/imagery/?since=soon").status_code == 400
    # the stored name is the server's, the client's name is only recorded (sanitised)
    [d] = list((settings.instance_path / "imagery").iterdir())
    assert sorted(p.name for p in d.iterdir()) == ["cog.tif", "original.tif"]
    with f.open("rb") as fh:  # the same file again: refused, nothing added
        again = c.post("/imagery/", data={"csrf_token": token, "file": (fh, "up.tif"),
                                          "date": "2011-07-08"},
                       content_type="multipart/form-data")
    assert again.status_code == 400 and "already scene" in again.data.decode()
    assert len(list((settings.instance_path / "imagery").iterdir())) == 1
    bad = tmp_path / "not.tif"
    bad.write_bytes(b"<VRTDataset></VRTDataset>")
    with bad.open("rb") as fh:
        r = c.post("/imagery/", data={"csrf_token": token, "file": (fh, "not.tif"),
                                      "date": "2011-07-08"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "not a readable GeoTIFF" in r.data.decode()
    viewer, vsecret, _ = make_user(ref_store, "viewer")
    v = sign_in(https_client(app), viewer.username, vsecret)
    vpage = v.get("/imagery/").data.decode()
    assert 'type="file"' not in vpage
    with f.open("rb") as fh:
        assert v.post("/imagery/", data={"csrf_token": csrf_from(vpage), "file": (fh, "x.tif"),
                                         "date": "2011-07-08"},
                      content_type="multipart/form-data").status_code == 404


@pytest.mark.parametrize("make, why", [
    (lambda d: "/vsicurl/http://127.0.0.1:9/x.tif", "only local files"),
    (lambda d: (d / "v.tif").write_bytes(b"<VRTDataset rasterXSize='1'></VRTDataset>") and
     str(d / "v.tif"), "not a readable GeoTIFF"),
])
def test_cli_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, settings, make, why):
    inst = settings.instance_path
    r = CliRunner().invoke(main, ["--instance", str(inst), "imagery", "add", make(tmp_path),
                                  "--date", "2010-01-01"])
    assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output
    assert not (inst / "imagery").exists() or not list((inst / "imagery").iterdir())


def test_a_jpeg_tile_on_the_edge_of_the_data_keeps_its_transparency(tiled):
    client, scenes = tiled
    s = scenes["u16"]
    lon0, lat0, lon1, lat1 = LL_BOUNDS
    t = mercantile.tile(lon0 + 0.004, lat0 + (lat1 - lat0) / 4, 17)  # across the nodata edge
    r = client.get(f"/tiles/{s.id}/{t.z}/{t.x}/{t.y}.jpg")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert (decode(r.data)[..., -1] == 0).any()
    inner = mercantile.tile(lon0 + 0.01, lat1 - 0.005, 17)  # fully inside: a real JPEG
    assert client.get(f"/tiles/{s.id}/{inner.z}/{inner.x}/{inner.y}.jpg").mimetype == "image/jpeg"
