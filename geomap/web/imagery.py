"""Imagery pages: swipe comparison of two scenes (optionally around a site)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for

from ..imagery import scene_dir
from ..model import PRECISION_MAX_RADIUS_M
from ..store.scenes import SceneStore
from . import get_settings, get_store
from .security import current_principal

bp = Blueprint("imagery", __name__, url_prefix="/imagery")


def scenes_for_site(site) -> list:
    """Scenes whose footprint meets the site's area, oldest first."""
    if site.geometry is None:
        return []
    r_deg = PRECISION_MAX_RADIUS_M.get(site.precision, 10_000.0) / 111_000
    x, y = site.geometry.x, site.geometry.y
    return SceneStore(get_store()).list(current_principal(),
                                        bbox=(x - r_deg, y - r_deg, x + r_deg, y + r_deg))


def _layer(scene) -> dict:
    from rio_tiler.io import Reader

    path = scene_dir(get_settings().instance_path / "imagery", scene.id) / "cog.tif"
    with Reader(str(path)) as src:
        maxzoom = src.maxzoom
    tiles = url_for("tiles.tile", scene_id=scene.id, z=0, x=0, y=0, fmt="png")
    minx, miny, maxx, maxy = scene.footprint.bounds
    return {"id": scene.id, "label": scene.label(), "maxzoom": maxzoom,
            "tiles": tiles.replace("/0/0/0.", "/{z}/{x}/{y}."),
            "bounds": [[miny, minx], [maxy, maxx]], "attribution": scene.licence or ""}


@bp.get("/compare")
def compare():
    from .corroboration import _basemap

    store, viewer = get_store(), current_principal()
    site = None
    if key := request.args.get("site"):
        site = store.site_by_key(key, viewer)
        if site is None:
            abort(404)
        scenes = scenes_for_site(site)
    else:
        scenes = SceneStore(store).list(viewer)
    if not scenes:
        abort(404)
    by_id = {s.id: s for s in scenes}
    left = by_id.get(request.args.get("a", ""), scenes[0])
    right = by_id.get(request.args.get("b", ""), scenes[-1])
    a, b = _layer(left), _layer(right)
    lo = [min(a["bounds"][0][0], b["bounds"][0][0]), min(a["bounds"][0][1], b["bounds"][0][1])]
    hi = [max(a["bounds"][1][0], b["bounds"][1][0]), max(a["bounds"][1][1], b["bounds"][1][1])]
    data = {"left": a, "right": b, "bounds": [lo, hi], "basemap": _basemap(),
            "focus": [site.geometry.y, site.geometry.x] if site and site.geometry else None,
            "focusRadius": PRECISION_MAX_RADIUS_M.get(site.precision, 10_000.0) if site else 0}
    return render_template("compare.html", scenes=scenes, left=left, right=right, site=site,
                           data=data)
