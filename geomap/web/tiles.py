"""XYZ tiles and TileJSON for imagery scenes, rendered with rio-tiler from the COG.

A scene is looked up by id in the catalogue; the client never supplies a path or URL. The
ETag is derived from what makes a tile (scene hash, z/x/y, format), so a revalidation is
answered 304 without opening the file.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict

import rasterio
from flask import Blueprint, Response, jsonify, request, url_for
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from ..errors import NotFound
from ..imagery import GDAL_ENV, scene_dir
from ..layers.text import html_text
from ..store.scenes import SceneStore
from . import get_settings, get_store
from .security import current_principal

bp = Blueprint("tiles", __name__, url_prefix="/tiles")
log = logging.getLogger(__name__)
FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"),
           "webp": ("WEBP", "image/webp")}
TILE_MAX_AGE = 86400
INFO_TTL_S = 30          # scene metadata (tier, hash) cached this long per process
READERS_PER_THREAD = 8   # open COGs kept per server thread (GDAL block cache survives requests)
_info: dict[str, tuple[float, dict | None]] = {}
_local = threading.local()


def _tile_info(scene_id: str) -> dict | None:
    hit = _info.get(scene_id)
    now = time.monotonic()
    if hit and now - hit[0] < INFO_TTL_S:
        return hit[1]
    info = SceneStore(get_store()).tile_info(scene_id)
    _info[scene_id] = (now, info)
    return info


def _reader(path):
    """An open rio-tiler Reader for `path`, kept per thread (datasets are not thread-safe)."""
    from rio_tiler.io import Reader

    cache: OrderedDict = getattr(_local, "readers", None) or OrderedDict()
    _local.readers = cache
    key = (str(path), path.stat().st_mtime_ns)
    r = cache.pop(key, None)
    if r is None:
        r = Reader(str(path))
        while len(cache) >= READERS_PER_THREAD:
            cache.popitem(last=False)[1].close()
    cache[key] = r
    return r


def _scene(scene_id: str):
    try:
        path = scene_dir(get_settings().instance_path / "imagery", scene_id) / "cog.tif"
    except NotFound:
        raise NotFound() from None
    scene = SceneStore(get_store()).get(scene_id, current_principal())
    if scene is None or not path.is_file():
        raise NotFound()
    return scene, path


@bp.get("/basemap/<int:z>/<int:x>/<int:y>.png")
def basemap_tile(z: int, x: int, y: int):
    """The offline relief basemap, served like any scene (a COG in the instance folder)."""
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    from ..basemap import ensure_basemap

    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound()
    b = ensure_basemap(get_settings().basemap_dir)
    etag = hashlib.blake2b(f"basemap/{b.path.stat().st_mtime_ns}/{z}/{x}/{y}".encode(),
                           digest_size=16).hexdigest()
    if request.if_none_match.contains(etag):
        resp = Response(status=304)
    else:
        with Reader(str(b.path)) as src:
            try:
                # past its native zoom the picture is magnified: bilinear in the warp too
                # (rio-tiler's default there is nearest, which draws blocks)
                img = src.tile(x, y, z, tilesize=256, resampling_method="bilinear",
                               reproject_method="bilinear")
            except TileOutsideBounds:
                raise NotFound() from None
        resp = Response(img.render(img_format="PNG", add_mask=True), mimetype="image/png")
    resp.set_etag(etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = TILE_MAX_AGE
    return resp


@bp.get("/basemap-pkg/<name>/<int:z>/<int:x>/<int:y>.<ext>")
def basemap_package_tile(name: str, z: int, x: int, y: int, ext: str):
    """A tile of an installed basemap package (an MBTiles the administrator installed with
    `geomap basemap install`): looked up by name, read from the instance's own copy."""
    from .. import basemaps

    try:
        pkg = basemaps.get(get_settings().instance_path, name)
    except NotFound:
        raise NotFound() from None
    if ext != pkg.ext or not (0 <= z <= basemaps.MAX_ZOOM):
        raise NotFound()
    etag = hashlib.blake2b(f"pkg/{pkg.sha256}/{z}/{x}/{y}".encode(), digest_size=16).hexdigest()
    if request.if_none_match.contains(etag):
        resp = Response(status=304)
    else:
        data = basemaps.read_tile(get_settings().instance_path, pkg, z, x, y)
        if data is None:
            raise NotFound()
        resp = Response(data, mimetype=pkg.mimetype)
    resp.set_etag(etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = TILE_MAX_AGE
    return resp


def basemap_layers() -> list[dict]:
    """Installed basemap packages as the map pages' scripts take them (first = default)."""
    from flask import url_for

    from .. import basemaps

    out = []
    for p in basemaps.installed(get_settings().instance_path):
        url = url_for("tiles.basemap_package_tile", name=p.name, z=0, x=0, y=0, ext=p.ext)
        out.append({"name": p.name, "url": url.replace("/0/0/0.", "/{z}/{x}/{y}."),
                    "bounds": p.leaflet_bounds(), "minzoom": p.minzoom, "maxzoom": p.maxzoom,
                    "attribution": p.attribution})
    return out


@bp.get("/<scene_id>/<int:z>/<int:x>/<int:y>.<fmt>")
def tile(scene_id: str, z: int, x: int, y: int, fmt: str):
    from rio_tiler.errors import TileOutsideBounds

    if fmt not in FORMATS or not (0 <= z <= 24) or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound()
    try:
        path = scene_dir(get_settings().instance_path / "imagery", scene_id) / "cog.tif"
    except NotFound:
        raise NotFound() from None
    info = _tile_info(scene_id)
    if info is None or info["tier"] not in {str(t) for t in current_principal().tiers}:
        raise NotFound()
    etag = hashlib.blake2b(f"{info['sha256']}/{z}/{x}/{y}.{fmt}".encode(),
                           digest_size=16).hexdigest()
    if request.if_none_match.contains(etag):
        resp = Response(status=304)
        resp.set_etag(etag)
        resp.cache_control.private = True
        resp.cache_control.max_age = TILE_MAX_AGE
        return resp
    if not path.is_file():
        raise NotFound()
    driver, mime = FORMATS[fmt]
    # display bands: RGB from the first three, otherwise the first (grey)
    indexes = (1, 2, 3) if info["bands"] >= 3 else (1,)
    with rasterio.Env(**GDAL_ENV):
        try:
            img = _reader(path).tile(x, y, z, tilesize=256, indexes=indexes)
        except TileOutsideBounds:
            raise NotFound() from None
        except (RasterioError, CPLE_BaseError, OSError, ValueError) as e:
            # a damaged working copy: this scene has no tiles, the server goes on
            log.warning("tiles: scene %s unreadable: %s", scene_id, e)
            raise NotFound() from None
    if not img.mask.any():
        raise NotFound()  # inside the bounds box but outside the footprint
    if info["rescale"]:
        img.rescale(in_range=[tuple(info["rescale"][i - 1]) for i in indexes])
    if driver == "JPEG" and not img.mask.all():
        # JPEG has no alpha: a tile on the edge of the data would show black where there is
        # none, so it goes out as PNG (browsers follow the content type, not the extension)
        driver, mime = FORMATS["png"]
    body = img.render(img_format=driver, add_mask=driver != "JPEG")
    resp = Response(body, mimetype=mime)
    resp.set_etag(etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = TILE_MAX_AGE
    return resp


@bp.get("/<scene_id>/tilejson.json")
def tilejson(scene_id: str):
    scene, path = _scene(scene_id)
    from rio_tiler.io import Reader

    try:
        with rasterio.Env(**GDAL_ENV), Reader(str(path)) as src:
            minzoom, maxzoom = src.minzoom, src.maxzoom
    except (RasterioError, CPLE_BaseError, OSError, ValueError) as e:
        log.warning("tiles: scene %s unreadable: %s", scene_id, e)
        raise NotFound() from None
    fmt = request.args.get("format", "png")
    if fmt not in FORMATS:
        raise NotFound()
    template = url_for("tiles.tile", scene_id=scene_id, z=0, x=0, y=0, fmt=fmt, _external=True)
    template = template.replace("/0/0/0.", "/{z}/{x}/{y}.")
    minx, miny, maxx, maxy = scene.footprint.bounds
    # TileJSON clients (Leaflet, MapLibre, QGIS) may show the attribution as HTML: a person's
    # licence text goes in escaped, so it shows as text either way
    return jsonify({"tilejson": "3.0.0", "name": scene.label(), "tiles": [template],
                    "bounds": [minx, miny, maxx, maxy], "minzoom": minzoom,
                    "maxzoom": maxzoom, "attribution": html_text(scene.licence or "")})
