"""XYZ tiles and TileJSON for imagery scenes and basemaps: parse the request, call geomap.tiles
(which renders with rio-tiler and decides), send the bytes with their ETag and cache lifetime.
The routes (URLs) are what the map pages and other surfaces link to; they stay as they are.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from .. import tiles
from . import get_settings, get_store
from .security import current_principal

bp = Blueprint("tiles", __name__, url_prefix="/tiles")


def _send(tile: tiles.Tile) -> Response:
    """A tile as a response: 304 when the client's copy is current; private, cached a day."""
    resp = Response(status=304) if tile.body is None else Response(tile.body,
                                                                   mimetype=tile.media_type)
    resp.set_etag(tile.etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = tile.max_age
    return resp


@bp.get("/basemap/<int:z>/<int:x>/<int:y>.png")
def basemap_tile(z: int, x: int, y: int):
    """The offline relief basemap, served like any scene (a COG in the instance folder)."""
    return _send(tiles.basemap_tile(get_settings(), z, x, y, request.if_none_match))


@bp.get("/basemap-pkg/<name>/<int:z>/<int:x>/<int:y>.<ext>")
def basemap_package_tile(name: str, z: int, x: int, y: int, ext: str):
    """A tile of an installed basemap package (`geomap basemap install`)."""
    return _send(tiles.basemap_package_tile(get_settings(), name, z, x, y, ext,
                                            request.if_none_match))


def basemap_layers() -> list[dict]:
    """Installed basemap packages as the map pages' scripts take them (first = default)."""
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
    return _send(tiles.scene_tile(get_store(), get_settings(), current_principal(), scene_id,
                                  z, x, y, fmt, request.if_none_match))


@bp.get("/<scene_id>/tilejson.json")
def tilejson(scene_id: str):
    fmt = request.args.get("format", "png")
    tiles.check_format(fmt)
    template = url_for("tiles.tile", scene_id=scene_id, z=0, x=0, y=0, fmt=fmt, _external=True)
    return jsonify(tiles.scene_tilejson(get_store(), get_settings(), current_principal(),
                                        scene_id, template.replace("/0/0/0.", "/{z}/{x}/{y}.")))
