"""Report figures of scenes (geomap.figures) as PNG or PDF downloads.

A scene is named by id and must be visible to the viewer (its tier), like its tiles; the bbox is
optional (the site's area, else the scene's footprint). Bad parameters are a 400 naming them.
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, Response, request
from shapely.geometry import box

from .. import figures
from ..errors import InvalidInput, NotFound
from ..imagery import UnreadableScene, scene_dir
from ..model import PRECISION_MAX_RADIUS_M
from ..store.scenes import SceneStore
from . import get_settings, get_store, select_locale
from .params import bbox as bbox_param
from .params import check_known
from .security import current_principal

bp = Blueprint("figures", __name__, url_prefix="/imagery")
log = logging.getLogger(__name__)
MIMETYPES = {"png": "image/png", "pdf": "application/pdf"}
SITE_MIN_RADIUS_M = 500.0  # a site's figure shows at least 1 km around its point


def _scene(scene_id: str, field: str):
    """The scene and its working copy, if the viewer may see it (else 404, as for tiles)."""
    try:
        path = scene_dir(get_settings().instance_path / "imagery", scene_id) / "cog.tif"
    except NotFound:
        raise NotFound(f"{field}: no scene {scene_id!r}") from None
    scene = SceneStore(get_store()).get(scene_id, current_principal())
    if scene is None or not path.is_file():
        raise NotFound(f"{field}: no scene {scene_id!r}")
    return scene, path


def _site():
    if not (key := request.args.get("site")):
        return None
    site = get_store().site_by_key(key, current_principal())
    if site is None:
        raise NotFound(f"site: no site {key!r}")
    return site


def _bbox(site, footprint) -> tuple[float, float, float, float]:
    """The requested bbox; else the site's area (its location precision's radius) within
    `footprint`; else `footprint` (the scene's, or the two scenes' common part)."""
    if (b := bbox_param(request.args)) is not None:
        return b
    if site is not None and site.geometry is not None:
        # the precision's radius, but never so tight that a figure shows no surroundings
        r_m = max(PRECISION_MAX_RADIUS_M.get(site.precision, 10_000.0), SITE_MIN_RADIUS_M)
        x, y = site.geometry.x, site.geometry.y
        dy = r_m / 111_320
        dx = dy / max(math.cos(math.radians(y)), 0.01)
        area = box(x - dx, y - dy, x + dx, y + dy)
        # the part of the site's area the imagery covers (no wide grey margins)
        inside = area.intersection(footprint)
        return (inside if not inside.is_empty else area).bounds
    return footprint.bounds


def _lang() -> str:
    lang = request.args.get("lang") or select_locale()
    if lang not in figures.LANGS:
        raise InvalidInput(f"lang: expected one of {', '.join(figures.LANGS)}, got {lang!r}",
                           field="lang")
    return lang


def scene_features(scene_id: str) -> list[dict]:
    """The scene's annotations the viewer may see, as GeoJSON Features (properties label,
    change, author): the annotations export, so a figure shows what the GeoJSON export holds.
    Looked up lazily: without the annotations module (or its tables) a figure has none."""
    import importlib

    try:
        annotations = importlib.import_module("geomap.annotations")
        export = annotations.export_geojson
    except (ImportError, AttributeError):
        return []
    return list(export(get_store(), current_principal(), scene_id)["features"])


def _send(body: bytes, fmt: str, name: str) -> Response:
    resp = Response(body, mimetype=MIMETYPES[fmt])
    resp.headers["Content-Disposition"] = f'inline; filename="{name}.{fmt}"'
    resp.cache_control.private = True
    resp.cache_control.no_store = True  # carries its own "generated" time; scenes may be hidden
    return resp


def _render(call, *args, **kwargs) -> bytes:
    try:
        return call(*args, **kwargs)
    except UnreadableScene as e:
        # a damaged working copy: no figure of it, the server goes on (as for its tiles)
        log.warning("figures: %s", e)
        raise NotFound() from None


@bp.get("/<scene_id>/figure.<fmt>")
def scene_figure(scene_id: str, fmt: str):
    if fmt not in MIMETYPES:
        raise NotFound()
    check_known(request.args, ("bbox", "site", "lang", "paper"))
    scene, path = _scene(scene_id, "scene")
    site = _site()
    body = _render(figures.render_figure, scene, path, _bbox(site, scene.footprint),
                   scene_features(scene.id), _lang(), fmt, site.name if site else None,
                   paper=request.args.get("paper", "a5"))
    return _send(body, fmt, f"geomap-{scene.acquired.isoformat()}-{scene.id[:8]}")


@bp.get("/figure/before-after.<fmt>")
def before_after(fmt: str):
    if fmt not in MIMETYPES:
        raise NotFound()
    check_known(request.args, ("before", "after", "bbox", "site", "lang", "paper"))
    for name in ("before", "after"):
        if not request.args.get(name):
            raise InvalidInput(f"{name}: a scene id is required", field=name)
    before, before_path = _scene(request.args["before"], "before")
    after, after_path = _scene(request.args["after"], "after")
    site = _site()
    common = before.footprint.intersection(after.footprint)
    if request.args.get("bbox") is None and site is None and common.is_empty:
        raise InvalidInput("bbox: the two scenes do not overlap; give a bbox", field="bbox")
    body = _render(figures.render_before_after, before, before_path, after, after_path,
                   _bbox(site, common), scene_features(before.id), scene_features(after.id),
                   _lang(), fmt, site.name if site else None,
                   paper=request.args.get("paper", "a4"))
    return _send(body, fmt, f"geomap-{before.acquired.isoformat()}-"
                            f"{after.acquired.isoformat()}-{before.id[:8]}-{after.id[:8]}")
