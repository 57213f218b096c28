"""Imagery pages: the scene catalogue with its upload, and the swipe comparison of two scenes
(optionally around a site). The work is geomap.scenes'; these views parse, call and render."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _

from .. import scenes as service
from ..errors import Conflict, InvalidInput, NotFound
from ..model import PRECISION_MAX_RADIUS_M, Tier
from ..policy import Permission, Principal
from . import get_settings, get_store
from .labels import message_text
from .security import current_principal, require

if TYPE_CHECKING:
    from ..imagery import Scene
    from ..store.protocol import StoreLike

bp = Blueprint("imagery", __name__, url_prefix="/imagery")


def scenes_for_site(site) -> list:
    """Readable scenes the viewer may see whose footprint meets the site's area, oldest first."""
    return service.list_scenes(get_store(), get_settings(), current_principal(), site=site)


def readable(scenes: list) -> list:
    """`scenes` whose working copy opens (geomap.scenes.readable), with their zooms."""
    return service.readable(get_settings(), scenes)


def scene_layer(scene) -> dict:
    """A scene as a map overlay; `scene` comes from `readable` (which found its zoom)."""
    maxzoom = scene.maxzoom
    tiles = url_for("tiles.tile", scene_id=scene.id, z=0, x=0, y=0, fmt="png")
    minx, miny, maxx, maxy = scene.footprint.bounds
    return {"id": scene.id, "label": scene.label(), "maxzoom": maxzoom,
            "tiles": tiles.replace("/0/0/0.", "/{z}/{x}/{y}."),
            "bounds": [[miny, minx], [maxy, maxx]], "attribution": scene.licence or ""}


@bp.get("/compare")
def compare():
    from .annotations import vocab as annotation_vocab
    from .helpers import basemap_context

    store, viewer = get_store(), current_principal()
    site = None
    if key := request.args.get("site"):
        site = store.site_by_key(key, viewer)
        if site is None:
            raise NotFound()
        scenes = scenes_for_site(site)
    else:
        scenes = service.list_scenes(store, get_settings(), viewer)
    if not scenes:
        raise NotFound()
    by_id = {s.id: s for s in scenes}
    left = by_id.get(request.args.get("a", ""), scenes[0])
    right = by_id.get(request.args.get("b", ""), scenes[-1])
    a, b = scene_layer(left), scene_layer(right)
    lo = [min(a["bounds"][0][0], b["bounds"][0][0]), min(a["bounds"][0][1], b["bounds"][0][1])]
    hi = [max(a["bounds"][1][0], b["bounds"][1][0]), max(a["bounds"][1][1], b["bounds"][1][1])]
    a["annotations"], b["annotations"] = _overlay(store, viewer, left), _overlay(store, viewer, right)
    data = {"left": a, "right": b, "bounds": [lo, hi], "basemap": basemap_context(),
            "vocab": annotation_vocab(),
            "focus": [site.geometry.y, site.geometry.x] if site and site.geometry else None,
            "focusRadius": PRECISION_MAX_RADIUS_M.get(site.precision, 10_000.0) if site else 0}
    return render_template("compare.html", scenes=scenes, left=left, right=right, site=site,
                           data=data)


def _overlay(store: StoreLike, viewer: Principal, scene: Scene) -> list[dict]:
    """A scene's annotations for the comparison: shape, label, change; no notes, no authors."""
    from .. import annotations as ann

    keep = ("id", "geometry", "label", "change", "confidence", "length_m", "area_m2")
    return [{k: a[k] for k in keep} for a in ann.for_scene(store, viewer, scene.id)]


@bp.route("/", methods=["GET", "POST"])
def catalogue():
    """The scene catalogue (filter by date and site) and, for imagery managers, the upload."""
    from ..imagery import WORKING_COPY_CHOICES, WORKING_COPY_DEFAULT, display_name

    store, viewer = get_store(), current_principal()
    error, added, status = None, None, 200
    if request.method == "POST":
        require(Permission.MANAGE_IMAGERY)
        f = request.files.get("file")
        # the user's name for the file, shown in messages and recorded; stored under ours
        name = display_name(f.filename) if f else ""
        try:
            if not f or not name:
                raise InvalidInput(_("Choose a GeoTIFF to add."))
            try:
                acquired = date.fromisoformat(request.form.get("date", ""))
            except ValueError:
                raise InvalidInput(_("Acquisition date: YYYY-MM-DD.")) from None
            tier = Tier(request.form.get("tier") or "internal")
            working_copy = request.form.get("working_copy") or WORKING_COPY_DEFAULT
            if working_copy not in WORKING_COPY_CHOICES:
                raise InvalidInput(_("Working copy: lossless or JPEG."))
            with tempfile.TemporaryDirectory(prefix="geomap-upload-") as tmp:
                path = Path(tmp) / "upload.tif"  # our name, never the client's
                f.save(path)
                try:
                    added = service.add_scene(
                        store, get_settings(), path, acquired, viewer.username,
                        sensor=request.form.get("sensor") or None,
                        provider=request.form.get("provider") or None,
                        licence=request.form.get("licence") or None, tier=tier,
                        original_name=name, working_copy=working_copy)
                except InvalidInput as e:
                    # the reason names the user's file and what is wrong, in the reader's
                    # language (a GDAL/PROJ detail inside it stays as the library wrote it)
                    raise InvalidInput(_("Not added: %(reason)s", reason=message_text(e))
                                       ) from None
        except (InvalidInput, Conflict, ValueError) as e:  # said on the form, in its language
            error, status = message_text(e), 400
    since = _date_arg("since")
    until = _date_arg("until")
    site = store.site_by_key(key, viewer) if (key := request.args.get("site")) else None
    found = service.list_scenes(store, get_settings(), viewer, site=site, since=since,
                                until=until)
    return render_template("imagery.html", scenes=found, error=error, added=added,
                           site=site, since=since, until=until,
                           can_add=viewer.can(Permission.MANAGE_IMAGERY),
                           sites=store.sites(viewer)), status


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name}: expected YYYY-MM-DD", field=name) from None
