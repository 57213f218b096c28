"""Publications on the web: staff compose, preview, publish and unpublish (/publications, the
PUBLISH permission); anyone reads what is published (/p/<slug>, /p/<slug>.json).

The public routes serve the stored snapshot only (geomap.publications.get_published): no
session is read or written and no cookie is set (security.is_embed_path covers /p/), no
internal API is loaded, and the page has its own strict policy (no inline script, nothing from
another host, not framed: embeds are /embed/<slug>)."""

from __future__ import annotations

import json
import re

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from .. import publications as pubs
from ..errors import InvalidInput
from ..model import FACILITY_LABELS, FacilityType
from ..policy import Permission
from . import get_settings, get_store
from .labels import message_text
from .security import current_principal, require

bp = Blueprint("publications", __name__)
LIST_FIELDS = ("facility_types", "layers", "scene_ids")
FIELDS = ("title", "text", "lang", "site_keys", "site_precision", "site_grid_km",
          "witness_counts", "counts", "cell_km", "min_count", "period", "allowed_origins")
PUBLIC_CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'"])


STEP_FIELD = re.compile(r"step-([0-9]{1,3})-title")
STEP_TEXT_FIELDS = ("title", "text", "lat", "lon", "zoom", "fit", "scene", "figure_scene",
                    "figure_bbox")


def _form_steps() -> list[dict]:
    """A story's steps as the form sends them (step-<i>-<field>, in the order of <i>): rows
    marked "remove" and the empty new-step row are left out. Works without the page's script."""
    indices = sorted({int(m.group(1)) for k in request.form
                      if (m := STEP_FIELD.fullmatch(k))})
    rows = []
    for i in indices:
        row: dict = {f: (request.form.get(f"step-{i}-{f}") or "").strip()
                     for f in STEP_TEXT_FIELDS}
        row["layers"] = request.form.getlist(f"step-{i}-layers")
        if request.form.get(f"step-{i}-remove") or not any(row[f] for f in STEP_TEXT_FIELDS):
            continue
        rows.append(row)
    return rows


def _steps_input(rows: list[dict]) -> list[dict]:
    """Form rows as geomap.publications.compose takes steps."""
    return [{"title": r["title"], "text": r["text"], "fit": r["fit"],
             "center": [r["lat"], r["lon"]] if (r["lat"] or r["lon"]) else None,
             "zoom": r["zoom"], "layers": r["layers"], "scene": r["scene"],
             "figure": {"scene": r["figure_scene"], "bbox": r["figure_bbox"]}}
            for r in rows]


def _steps_as_form(steps: list[dict]) -> list[dict]:
    """Stored steps as form rows."""
    rows = []
    for st in steps or []:
        view, fig = st.get("view") or {}, st.get("figure") or {}
        center = view.get("center") or ["", ""]
        rows.append({"title": st.get("title", ""), "text": st.get("text", ""),
                     "lat": center[0], "lon": center[1], "zoom": view.get("zoom", ""),
                     "fit": " ".join(view.get("fit") or []), "layers": st.get("layers") or [],
                     "scene": st.get("scene") or "", "figure_scene": fig.get("scene") or "",
                     "figure_bbox": ", ".join(str(x) for x in fig.get("bbox") or [])})
    return rows


def _form_data() -> dict:
    data: dict = {k: request.form.getlist(k) for k in LIST_FIELDS}
    data.update({k: request.form.get(k) for k in FIELDS})
    rows = _form_steps()
    data["steps"] = _steps_input(rows)
    data["step_rows"] = rows  # to show the form again as it was sent
    return data


def _choices() -> dict:
    from ..store.scenes import SceneStore

    viewer = current_principal()
    return {
        "types": [(str(t), _(FACILITY_LABELS[t])) for t in FacilityType],
        "scenes": [s for s in SceneStore(get_store()).list(viewer) if pubs.scene_is_public(s)],
        "precisions": {"exact": _("exact (the public facility list)"),
                       "grid": _("snapped to a grid cell's centre"),
                       "county": _("at the county's centre")},
        "counts": {"none": _("no testimony counts"), "grid": _("per grid cell"),
                   "county": _("per county")},
        "layers": {"sites": _("Sites"), "cells": _("Testimony counts"),
                   "annotations": _("Imagery annotations")},
    }


def _as_form(settings: dict) -> dict:
    """Stored settings as the form shows them (lists as text where the form has a text box)."""
    out = dict(settings)
    for k in ("site_keys", "allowed_origins"):
        out[k] = "\n".join(settings.get(k) or [])
    out["step_rows"] = _steps_as_form(settings.get("steps") or [])
    return out


def _defaults() -> dict:
    return {"lang": "ko", "site_precision": "exact", "site_grid_km": pubs.GRID_KM_DEFAULT,
            "counts": "none", "cell_km": pubs.GRID_KM_DEFAULT,
            "min_count": pubs.MIN_COUNT_DEFAULT, "layers": ["sites", "cells"],
            "facility_types": [], "scene_ids": [], "site_keys": "", "allowed_origins": ""}


@bp.get("/publications")
def index(error: str | None = None, form: dict | None = None, status: int = 200):
    require(Permission.PUBLISH)
    rows = pubs.all_publications(get_store(), current_principal())
    return render_template("publications.html", rows=rows, error=error,
                           form=form or _defaults(), choices=_choices()), status


@bp.post("/publications")
def create():
    require(Permission.PUBLISH)
    data = _form_data()
    try:
        rec = pubs.create(get_store(), current_principal(), request.form.get("slug"), data)
    except InvalidInput as e:
        return index(error=message_text(e), form={**data, "slug": request.form.get("slug")},
                     status=400)
    return redirect(url_for("publications.edit", pub_id=rec.id))


def _edit_page(pub_id: int, error: str | None = None, form: dict | None = None,
               status: int = 200, done: str | None = None):
    store, viewer = get_store(), current_principal()
    rec = pubs.get(store, viewer, pub_id)
    return render_template(
        "publication_edit.html", rec=rec, form=form or _as_form(rec.settings), error=error,
        done=done, versions=pubs.versions(store, viewer, pub_id), choices=_choices(),
        live=pubs.get_published(store, rec.slug) is not None), status


@bp.get("/publications/<int:pub_id>")
def edit(pub_id: int):
    require(Permission.PUBLISH)
    return _edit_page(pub_id, done=request.args.get("done"))


@bp.post("/publications/<int:pub_id>")
def save(pub_id: int):
    require(Permission.PUBLISH)
    data = _form_data()
    try:
        pubs.edit(get_store(), current_principal(), pub_id, data)
    except InvalidInput as e:
        return _edit_page(pub_id, error=message_text(e), form=data, status=400)
    return redirect(url_for("publications.edit", pub_id=pub_id, done="saved"))


@bp.get("/publications/<int:pub_id>/preview.json")
def preview(pub_id: int):
    """The draft as it would be published (staff only; computed, not stored)."""
    require(Permission.PUBLISH)
    store, viewer = get_store(), current_principal()
    rec = pubs.get(store, viewer, pub_id)
    return jsonify(pubs.build_snapshot(store, viewer, rec.settings, rec.slug, 0,
                                      pubs.now_utc()))


@bp.post("/publications/<int:pub_id>/publish")
def publish(pub_id: int):
    require(Permission.PUBLISH)
    pubs.publish(get_store(), current_principal(), pub_id,
                 imagery_dir=get_settings().instance_path / "imagery")
    return redirect(url_for("publications.edit", pub_id=pub_id, done="published"))


@bp.post("/publications/<int:pub_id>/unpublish")
def unpublish(pub_id: int):
    require(Permission.PUBLISH)
    pubs.unpublish(get_store(), current_principal(), pub_id)
    return redirect(url_for("publications.edit", pub_id=pub_id, done="unpublished"))


# -- public: the stored snapshot, nothing else ---------------------------------------------------
def _public(slug: str) -> dict:
    snap = pubs.get_published(get_store(), slug)
    if snap is None:
        raise NotFound()
    return snap


def _public_headers(resp: Response) -> Response:
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "public, max-age=60"
    return resp


@bp.get("/p/<slug>")
def public_page(slug: str):
    from .. import embeds

    snap = _public(slug)
    page = embeds.render_page(snap, "/static/",
                              f"/embed/{slug}/tiles/{{scene}}/{{z}}/{{x}}/{{y}}.png",
                              figure_base=f"/p/{slug}/figures/")
    return _public_headers(Response(page, mimetype="text/html"))


@bp.get("/p/<slug>/figures/<name>")
def public_figure(slug: str, name: str):
    from .embeds import figure_response

    return _public_headers(figure_response(_public(slug), name))


@bp.get("/p/<slug>.json")
def public_json(slug: str):
    snap = _public(slug)
    body = json.dumps(pubs.public_json(snap), ensure_ascii=False, sort_keys=True)
    resp = Response(body, mimetype="application/json")
    resp.headers["Access-Control-Allow-Origin"] = "*"  # public, cookie-less data
    return _public_headers(resp)


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _public_policy():
        # every answer under /p/, error pages included, gets the public page's policy
        if request.path.startswith("/p/"):
            from .embeds import rate_limit  # the embeds' per-address bucket, shared

            g.embed_csp = PUBLIC_CSP
            return rate_limit()
        return None
