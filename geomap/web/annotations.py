"""Imagery annotations: the page to draw on one scene, and the JSON API behind it (list, create,
edit, delete, history, confirm a site's geometry, export). The checks, the audited writes and
the exports live in geomap.annotations; this module turns requests into its calls."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from .. import annotations as ann
from ..errors import InvalidInput, NotFound
from ..store.scenes import SceneStore
from . import get_store
from .security import current_principal

bp = Blueprint("annotations", __name__)


def vocab() -> dict:
    """The annotation vocabularies in the reader's language (the dossier uses them too)."""
    return {
        "labels": {k: _(v) for k, v in ann.LABELS.items()},
        "confidences": {k: _(v) for k, v in ann.CONFIDENCES.items()},
        "changes": {k: _(v) for k, v in ann.CHANGES.items()},
        "colours": ann.LABEL_COLOURS,
    }


def _text() -> dict:
    """The page script's words (it writes them with textContent)."""
    return {
        "saved": _("Saved."), "deleted": _("Deleted."), "error": _("Not saved"),
        "length": _("Length"), "perimeter": _("Perimeter"), "area": _("Area"),
        "version": _("Version"), "create": _("created"), "update": _("edited"),
        "delete": _("deleted"), "none": _("No annotations on this scene yet."),
        "confirm_delete": _("Delete this annotation? Its earlier versions are kept."),
        "confirmed": _("This outline is now the site's geometry confirmed on imagery."),
        "point": _("Point"), "line": _("Line"), "polygon": _("Polygon"),
        "draw_first": _("Draw a point, a line or a polygon on the map first."),
        "no_site": _("(no site)"), "reported": _("Reported location"),
    }


def _version_arg(body: dict) -> int | None:
    v = body.get("version", request.args.get("version"))
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise InvalidInput("version: an integer", field="version") from None


@bp.get("/imagery/<scene_id>/annotate")
def annotate(scene_id: str):
    from .helpers import basemap_context
    from .imagery import readable, scene_layer

    store, viewer = get_store(), current_principal()
    scenes = SceneStore(store)
    scene = scenes.get(scene_id, viewer)
    if scene is None or not (found := readable([scene])):
        raise NotFound()
    scene = found[0]
    minx, miny, maxx, maxy = scene.footprint.bounds
    pad = 0.02  # about 2 km: sites whose point lies just outside the picture
    sites = store.sites(viewer, bbox=(minx - pad, miny - pad, maxx + pad, maxy + pad))
    earlier = [s for s in scenes.list(viewer, bbox=(minx, miny, maxx, maxy),
                                      until=scene.acquired - timedelta(days=1))]
    data = {
        "scene": scene_layer(scene), "scene_id": scene.id,
        "annotations": ann.for_scene(store, viewer, scene.id),
        "can_edit": ann.can_annotate(viewer), "basemap": basemap_context(),
        # the sites' reported points, for reference (not Geoman's to edit)
        "sites": [{"id": s.id, "name": s.name, "lat": s.geometry.y, "lon": s.geometry.x}
                  for s in sites if s.geometry is not None],
        "api": url_for("annotations.create"), "vocab": vocab(), "text": _text(),
    }
    return render_template("annotate.html", scene=scene, data=data, sites=sites,
                           earlier=earlier, vocab=vocab(), can_edit=data["can_edit"],
                           notes=ann.can_read_notes(viewer))


@bp.get("/api/annotations")
def listing():
    scene = request.args.get("scene") or ""
    return jsonify({"annotations": ann.for_scene(get_store(), current_principal(), scene)})


@bp.post("/api/annotations")
def create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("a JSON object required")
    return jsonify(ann.create(get_store(), current_principal(), body)), 201


@bp.get("/api/annotations/<int:annotation_id>")
def one(annotation_id: int):
    return jsonify(ann.get(get_store(), current_principal(), annotation_id))


@bp.route("/api/annotations/<int:annotation_id>", methods=["PUT", "POST"])
def update(annotation_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("a JSON object required")
    return jsonify(ann.update(get_store(), current_principal(), annotation_id, body,
                              _version_arg(body)))


@bp.delete("/api/annotations/<int:annotation_id>")
def delete(annotation_id: int):
    body = request.get_json(silent=True) or {}
    return jsonify(ann.delete(get_store(), current_principal(), annotation_id,
                              _version_arg(body if isinstance(body, dict) else {})))


@bp.get("/api/annotations/<int:annotation_id>/history")
def history(annotation_id: int):
    return jsonify({"versions": ann.history(get_store(), current_principal(), annotation_id)})


@bp.post("/api/annotations/<int:annotation_id>/confirm-site")
def confirm_site(annotation_id: int):
    return jsonify(ann.confirm_site_geometry(get_store(), current_principal(), annotation_id))


@bp.get("/api/annotations/export")
def export():
    scene = request.args.get("scene") or ""
    fmt = request.args.get("format") or "geojson"
    body, media = ann.export(get_store(), current_principal(), scene, fmt)
    ext = "geojson" if fmt == "geojson" else "kml"
    name = f"annotations-{scene[:32]}.{ext}"
    return Response(body, mimetype=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
