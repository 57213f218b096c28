"""Imagery and basemap tiles as plain data: rio-tiler renders, this module decides, the web layer
only parses the request and sends what comes back (as titiler's render functions do).

A scene is looked up by id in the catalogue and shown only to a viewer whose tiers include the
scene's; the client never supplies a path or URL. A tile's ETag is derived from what makes it
(the scene's hash, z/x/y, format), so a caller holding it is answered "not modified" without
opening the file. Every failure is a geomap error, never an HTTP status: NotFound, without a
message, for what is not there, hidden from the viewer, outside the data or unreadable alike
(a tile's 404 says nothing about which).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING

import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

# at import time, not inside the request: several server threads importing rio_tiler at once
# can see a half-initialised module ('cannot import name Reader'), and their tiles fail
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from .errors import NotFound
from .imagery import GDAL_ENV, imagery_root, scene_dir
from .layers.text import html_text

if TYPE_CHECKING:
    from pathlib import Path

    from rio_tiler.models import ImageData

    from .config import Settings
    from .policy import Principal
    from .store.protocol import StoreLike

log = logging.getLogger(__name__)

# extension -> (GDAL driver, media type)
FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"),
           "webp": ("WEBP", "image/webp")}
TILE_SIZE = 256
TILE_MAX_AGE = 86400
MAX_ZOOM = 24
INFO_TTL_S = 30          # scene metadata (tier, hash) cached this long per process
READERS_PER_THREAD = 8   # open COGs kept per server thread (GDAL block cache survives requests)
_info: dict[str, tuple[float, dict | None]] = {}
_local = threading.local()
_UNREADABLE = (RasterioError, CPLE_BaseError, OSError, ValueError)


@dataclass(frozen=True)
class Tile:
    """A tile to send. `body` is None when the caller's copy (its ETag) is still current."""

    etag: str
    body: bytes | None
    media_type: str | None
    max_age: int = TILE_MAX_AGE


def _etag(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _check_zxy(z: int, x: int, y: int, max_zoom: int = MAX_ZOOM) -> None:
    if not (0 <= z <= max_zoom and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound()


def check_format(fmt: str) -> tuple[str, str]:
    """(GDAL driver, media type) of a tile format the server renders; NotFound otherwise."""
    try:
        return FORMATS[fmt]
    except KeyError:
        raise NotFound() from None


def _cog_path(settings: Settings, scene_id: str) -> Path:
    try:
        return scene_dir(imagery_root(settings), scene_id) / "cog.tif"
    except NotFound:  # a malformed id, before any query
        raise NotFound() from None


def _tile_info(store: StoreLike, scene_id: str) -> dict | None:
    from .store.scenes import SceneStore

    hit = _info.get(scene_id)
    now = time.monotonic()
    if hit and now - hit[0] < INFO_TTL_S:
        return hit[1]
    info = SceneStore(store).tile_info(scene_id)
    _info[scene_id] = (now, info)
    return info


def _reader(path: Path):
    """An open rio-tiler Reader for `path`, kept per thread (datasets are not thread-safe)."""

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


def _visible_info(store: StoreLike, viewer: Principal, scene_id: str) -> dict:
    """The scene's tile metadata if `viewer` may see it (NotFound otherwise, as for no scene)."""
    info = _tile_info(store, scene_id)
    if info is None or info["tier"] not in {str(t) for t in viewer.tiers}:
        raise NotFound()
    return info


def read_scene_tile(store: StoreLike, settings: Settings, viewer: Principal, scene_id: str,
                    z: int, x: int, y: int, tilesize: int = TILE_SIZE) -> ImageData:
    """The scene's pixels in web tile z/x/y, display bands (RGB or grey), rescaled for display
    when the data is beyond 8 bits, masked where there is no data. For the tile endpoint and
    for anything else drawn from the same tiles (figures)."""

    _check_zxy(z, x, y)
    path = _cog_path(settings, scene_id)
    info = _visible_info(store, viewer, scene_id)
    if not path.is_file():
        raise NotFound()
    indexes = (1, 2, 3) if info["bands"] >= 3 else (1,)
    with rasterio.Env(**GDAL_ENV):
        try:
            img = _reader(path).tile(x, y, z, tilesize=tilesize, indexes=indexes)
        except TileOutsideBounds:
            raise NotFound() from None
        except _UNREADABLE as e:
            # a damaged working copy: this scene has no tiles, the server goes on
            log.warning("tiles: scene %s unreadable: %s", scene_id, e)
            raise NotFound() from None
    if not img.mask.any():
        raise NotFound()  # in the bounds box, off the footprint
    if info["rescale"]:
        img.rescale(in_range=[tuple(info["rescale"][i - 1]) for i in indexes])
    return img


def scene_tile(store: StoreLike, settings: Settings, viewer: Principal, scene_id: str,
               z: int, x: int, y: int, fmt: str = "png",
               if_none_match: Container[str] = ()) -> Tile:
    """Tile z/x/y of a scene as `fmt` (png, jpg, webp). A tile on the edge of the data asked
    for as JPEG comes as PNG (JPEG has no transparency): follow `media_type`."""
    driver, mime = check_format(fmt)
    _check_zxy(z, x, y)
    _cog_path(settings, scene_id)
    info = _visible_info(store, viewer, scene_id)
    etag = _etag(f"{info['sha256']}/{z}/{x}/{y}.{fmt}")
    if etag in if_none_match:
        return Tile(etag, None, None)
    img = read_scene_tile(store, settings, viewer, scene_id, z, x, y)
    if driver == "JPEG" and not img.mask.all():
        # JPEG would show black where there is no data: PNG instead (browsers follow the
        # content type, not the extension)
        driver, mime = FORMATS["png"]
    return Tile(etag, img.render(img_format=driver, add_mask=driver != "JPEG"), mime)


def scene_tilejson(store: StoreLike, settings: Settings, viewer: Principal, scene_id: str,
                   tiles_url: str) -> dict:
    """TileJSON 3.0.0 of a scene; `tiles_url` is the caller's tile URL with {z}/{x}/{y}."""

    from .store.scenes import SceneStore

    path = _cog_path(settings, scene_id)
    scene = SceneStore(store).get(scene_id, viewer)
    if scene is None or not path.is_file():
        raise NotFound()
    try:
        with rasterio.Env(**GDAL_ENV), Reader(str(path)) as src:
            minzoom, maxzoom = src.minzoom, src.maxzoom
    except _UNREADABLE as e:
        log.warning("tiles: scene %s unreadable: %s", scene_id, e)
        raise NotFound() from None
    minx, miny, maxx, maxy = scene.footprint.bounds
    # TileJSON clients (Leaflet, MapLibre, QGIS) may show the attribution as HTML: a person's
    # licence text goes in escaped, so it shows as text either way
    return {"tilejson": "3.0.0", "name": scene.label(), "tiles": [tiles_url],
            "bounds": [minx, miny, maxx, maxy], "minzoom": minzoom, "maxzoom": maxzoom,
            "attribution": html_text(scene.licence or "")}


def basemap_tile(settings: Settings, z: int, x: int, y: int,
                 if_none_match: Container[str] = ()) -> Tile:
    """The offline relief basemap's tile (a COG in the instance folder), as PNG."""

    from .basemap import ensure_basemap

    _check_zxy(z, x, y)
    b = ensure_basemap(settings.basemap_dir)
    etag = _etag(f"basemap/{b.path.stat().st_mtime_ns}/{z}/{x}/{y}")
    if etag in if_none_match:
        return Tile(etag, None, None)
    with Reader(str(b.path)) as src:
        try:
            # past its native zoom the picture is magnified: bilinear in the warp too
            # (rio-tiler's default there is nearest, which draws blocks)
            img = src.tile(x, y, z, tilesize=TILE_SIZE, resampling_method="bilinear",
                           reproject_method="bilinear")
        except TileOutsideBounds:
            raise NotFound() from None
    return Tile(etag, img.render(img_format="PNG", add_mask=True), "image/png")


def basemap_package_tile(settings: Settings, name: str, z: int, x: int, y: int, ext: str,
                         if_none_match: Container[str] = ()) -> Tile:
    """A tile of an installed basemap package (an MBTiles the administrator installed with
    `geomap basemap install`): looked up by name, read from the instance's own copy."""
    from . import basemaps

    try:
        pkg = basemaps.get(settings.instance_path, name)
    except NotFound:
        raise NotFound() from None
    if ext != pkg.ext:
        raise NotFound()
    _check_zxy(z, x, y, basemaps.MAX_ZOOM)
    etag = _etag(f"pkg/{pkg.sha256}/{z}/{x}/{y}")
    if etag in if_none_match:
        return Tile(etag, None, None)
    data = basemaps.read_tile(settings.instance_path, pkg, z, x, y)
    if data is None:
        raise NotFound()
    return Tile(etag, data, pkg.mimetype)
