"""Lossless working copies (issue 13, item 4): under the default, the working copy holds the
original's pixels and a tile at the native zoom shows them unchanged, 1-pixel lines included;
JPEG is an explicit choice (and visibly lossy); scenes made before keep working and verify
re-hashes the working copy against the hash recorded when it was made."""

from __future__ import annotations

from datetime import date

import morecantile
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from geomap.cli import main
from geomap.imagery import (
    WORKING_COPY_CHOICES,
    WORKING_COPY_DEFAULT,
    imagery_root,
    ingest,
    working_copy_info,
)
from geomap.policy import SYSTEM

from .conftest import https_client, make_user, sign_in

TMS = morecantile.tms.get("WebMercatorQuad")
Z = 18  # about 0.6 m pixels: the native zoom of the scenes made here
TILE0 = TMS.tile(126.9, 39.7, Z)  # near Yodok


def make_aligned_scene(path, tiles=2, seed=3, dtype="uint8", bands=3):
    """A (tiles*256)^2 px scene in EPSG:3857 whose pixels are exactly web tiles' pixels at zoom
    Z, starting at TILE0: noise (the hardest case for a codec), a smooth gradient and 1-pixel
    bright and dark lines (fences). Returns the pixels written."""
    size = 256 * tiles
    b = TMS.xy_bounds(TILE0)
    res = (b.right - b.left) / 256
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = 80 + 60 * np.sin(x / 37.0) * np.cos(y / 53.0) + rng.normal(0, 12, (size, size))
    data = np.stack([base + 10 * k for k in range(bands)])
    data[:, 100, 20:480] = 250  # a bright fence line, one pixel wide
    data[:, 30:500, 300] = 5    # a dark one
    data[:, np.arange(40, 400), np.arange(40, 400)] = 240  # a diagonal one
    data = np.clip(data, 0, 255).astype(dtype)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands,
               "dtype": dtype, "crs": "EPSG:3857",
               "transform": from_origin(b.left, b.top, res, res), "tiled": True,
               "blockxsize": 256, "blockysize": 256}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return data


def read_cog(root, scene_id) -> np.ndarray:
    with rasterio.open(root / scene_id / "cog.tif") as ds:
        return ds.read()


def decode(body: bytes) -> np.ndarray:
    with rasterio.MemoryFile(body) as mem, mem.open() as ds:
        return ds.read()


@pytest.fixture
def app_client(ref_store, settings):
    from geomap.web import create_app

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    return sign_in(https_client(app), user.username, secret)


def _add(ref_store, settings, path, **kwargs):
    from geomap.scenes import add_scene

    return add_scene(ref_store, settings, path, date(2021, 6, 1), "t", **kwargs)


def test_the_default_working_copy_is_lossless_and_native_tiles_equal_the_original(
        tmp_path, settings, ref_store, app_client):
    assert WORKING_COPY_DEFAULT == "lossless"
    original = make_aligned_scene(tmp_path / "scene.tif")
    scene = _add(ref_store, settings, tmp_path / "scene.tif")
    root = imagery_root(settings)
    assert scene.working_copy == "lossless"
    wc = working_copy_info(root, scene.id)
    assert wc.compression == "DEFLATE" and wc.choice == "lossless" and wc.maxzoom == Z
    # the whole working copy at full resolution, pixel for pixel
    assert np.array_equal(read_cog(root, scene.id), original)
    # every tile at the native zoom, through the endpoint, as PNG (lossless too)
    for dy in (0, 1):
        for dx in (0, 1):
            r = app_client.get(f"/tiles/{scene.id}/{Z}/{TILE0.x + dx}/{TILE0.y + dy}.png")
            assert r.status_code == 200 and r.mimetype == "image/png"
            img = decode(r.data)
            assert img.shape == (4, 256, 256) and (img[3] == 255).all()
            want = original[:, 256 * dy:256 * dy + 256, 256 * dx:256 * dx + 256]
            assert np.array_equal(img[:3], want), f"tile {dx},{dy} differs"


def test_the_library_reads_the_same_native_tile(tmp_path, settings, ref_store):
    from geomap.tiles import read_scene_tile, scene_tile

    original = make_aligned_scene(tmp_path / "scene.tif")
    scene = _add(ref_store, settings, tmp_path / "scene.tif")
    img = read_scene_tile(ref_store, settings, SYSTEM, scene.id, Z, TILE0.x + 1, TILE0.y)
    assert np.array_equal(img.data, original[:, :256, 256:]) and img.mask.all()
    t = scene_tile(ref_store, settings, SYSTEM, scene.id, Z, TILE0.x, TILE0.y, "png")
    assert t.media_type == "image/png" and np.array_equal(decode(t.body)[:3],
                                                          original[:, :256, :256])
    again = scene_tile(ref_store, settings, SYSTEM, scene.id, Z, TILE0.x, TILE0.y, "png",
                       if_none_match={t.etag})
    assert again.body is None and again.etag == t.etag  # the caller's copy is current


def test_jpeg_is_an_explicit_choice_and_changes_thin_lines(tmp_path, settings, ref_store,
                                                          app_client):
    original = make_aligned_scene(tmp_path / "scene.tif")
    scene = _add(ref_store, settings, tmp_path / "scene.tif", working_copy="jpeg")
    root = imagery_root(settings)
    assert scene.working_copy == "jpeg"
    assert working_copy_info(root, scene.id).compression == "JPEG"
    cog = read_cog(root, scene.id).astype(int)
    assert np.abs(cog - original).max() > 20  # what the lossless default is for
    fence = np.abs(cog[:, 100, 20:480] - original[:, 100, 20:480].astype(int))
    assert fence.max() > 20
    r = app_client.get(f"/tiles/{scene.id}/{Z}/{TILE0.x}/{TILE0.y}.png")
    assert r.status_code == 200
    assert not np.array_equal(decode(r.data)[:3], original[:, :256, :256])


def test_jpeg_needs_8bit_rgb_and_unknown_choices_are_refused(tmp_path, settings, ref_store):
    from geomap.errors import InvalidInput

    make_aligned_scene(tmp_path / "grey16.tif", dtype="uint16", bands=1)
    with pytest.raises(InvalidInput, match="JPEG working copy needs an 8-bit RGB"):
        _add(ref_store, settings, tmp_path / "grey16.tif", working_copy="jpeg")
    with pytest.raises(InvalidInput, match="working copy: one of lossless, jpeg"):
        _add(ref_store, settings, tmp_path / "grey16.tif", working_copy="webp")
    root = imagery_root(settings)
    assert not root.exists() or list(root.iterdir()) == []  # nothing kept
    # 16-bit data gets a lossless working copy too (with the predictor), exact at full res
    original = make_aligned_scene(tmp_path / "u16.tif", dtype="uint16", bands=1)
    scene = _add(ref_store, settings, tmp_path / "u16.tif")
    assert np.array_equal(read_cog(root, scene.id), original)


def test_cli_working_copy_option(tmp_path, settings):
    from geomap.cli.imagery import WORKING_COPIES

    assert list(WORKING_COPIES) == list(WORKING_COPY_CHOICES)
    assert WORKING_COPIES[0] == WORKING_COPY_DEFAULT
    make_aligned_scene(tmp_path / "a.tif")
    inst = str(settings.instance_path)
    r = CliRunner().invoke(main, ["--instance", inst, "imagery", "add", str(tmp_path / "a.tif"),
                                  "--date", "2020-01-01", "--working-copy", "jpeg"])
    assert r.exit_code == 0, r.output
    assert "jpeg working copy" in r.output
    bad = CliRunner().invoke(main, ["--instance", inst, "imagery", "add",
                                    str(tmp_path / "a.tif"), "--date", "2020-01-01",
                                    "--working-copy", "png"])
    assert bad.exit_code == 2 and "lossless" in bad.output


def test_verify_rehashes_working_copies_and_old_scenes_keep_working(tmp_path, settings,
                                                                     ref_store, app_client):
    from geomap.scenes import list_scenes, verify_scenes
    from geomap.store.scenes import SceneStore

    root = imagery_root(settings)
    make_aligned_scene(tmp_path / "new.tif", seed=1)
    new = _add(ref_store, settings, tmp_path / "new.tif")
    # a scene as the previous version made it: a JPEG working copy, no hash recorded for it
    make_aligned_scene(tmp_path / "old.tif", seed=2)
    old = ingest(tmp_path / "old.tif", root, date(2012, 5, 1), actor="t", working_copy="jpeg")
    old.working_copy = old.working_sha256 = None
    SceneStore(ref_store).add(old, actor="t")

    checks = {c.scene_id: c for c in verify_scenes(ref_store, settings, "t")}
    assert all(c.ok for c in checks.values())
    assert checks[new.id].working_hash_recorded and not checks[old.id].working_hash_recorded
    assert checks[old.id].working_copy == "jpeg"
    listed = {s.id: s for s in list_scenes(ref_store, settings, SYSTEM)}
    assert listed[old.id].working_copy == "jpeg" and listed[new.id].working_copy == "lossless"
    r = app_client.get(f"/tiles/{old.id}/{Z}/{TILE0.x}/{TILE0.y}.png")
    assert r.status_code == 200  # the old scene's tiles still come

    ok = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "imagery",
                                   "verify"])
    assert ok.exit_code == 0 and "2 scenes verified" in ok.output
    assert "1 working copies made before their hash was recorded" in ok.output

    cog = root / new.id / "cog.tif"  # a changed working copy (it still opens)
    with rasterio.open(cog, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        block = ds.read(1, window=((0, 8), (0, 8)))
        ds.write(block ^ 1, 1, window=((0, 8), (0, 8)))
    bad = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "imagery",
                                    "verify"])
    assert bad.exit_code == 1
    assert f"FAIL {new.id}: working copy SHA-256 mismatch" in bad.output


def test_upload_form_offers_the_working_copy(tmp_path, ref_store, settings):
    import io

    from geomap.web import create_app

    from .conftest import csrf_from

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    client = sign_in(https_client(app), user.username, secret)
    page = client.get("/imagery/")
    assert b'name="working_copy"' in page.data and b'value="lossless" selected' in page.data
    make_aligned_scene(tmp_path / "up.tif")
    data = (tmp_path / "up.tif").read_bytes()

    def post(**form):
        return client.post("/imagery/", data={
            "csrf_token": csrf_from(client.get("/imagery/").get_data(as_text=True)), "date": "2019-04-02",
            "file": (io.BytesIO(data), "up.tif"), **form},
            content_type="multipart/form-data")

    bad = post(working_copy="png")
    assert bad.status_code == 400 and b"lossless or JPEG" in bad.data
    r = post(working_copy="jpeg")
    assert r.status_code == 200, r.data[:300]
    listed = client.get("/imagery/").get_data(as_text=True)
    assert "JPEG</td>" in listed
    ko = client.get("/imagery/", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert "작업 사본" in ko
