"""Pages to add a site and edit one (names, type, point, perimeter drawn on the map, sources).

The checks and the audited write live in geomap.site_edit; this module turns the HTML form into
its fields and back. A form with problems comes back as a 400 with what was typed and each
message beside its field.
"""

from __future__ import annotations

import re

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import Forbidden, NotFound
from ..model import TIER_LABELS
from ..policy import Permission
from ..site_edit import SiteFormError, create_site, form_fields, update_site
from . import get_store
from .labels import vocab
from .security import current_principal

bp = Blueprint("site_edit", __name__)

_TEXT = ("name", "name_ko", "aliases", "facility_type", "authority", "lat", "lon", "perimeter",
         "precision", "extent_km2", "opened", "closed", "status", "confidence", "tier", "note",
         "research_note")
_SOURCE = ("publisher", "title", "url", "date", "accessed_via", "detail")
_ROW = re.compile(r"src-(\d{1,3})-(\w+)")


def _require_edit() -> None:
    # the site itself may be visible to this role (a viewer reads dossiers): refuse, not hide
    if not current_principal().can(Permission.EDIT):
        raise Forbidden()


def _submitted() -> dict:
    """The form as geomap.site_edit reads it; empty source rows dropped, the rest renumbered
    (so a message about source 2 is beside the second row shown again)."""
    f = {k: request.form.get(k, "") for k in _TEXT}
    f["opened_approx"] = bool(request.form.get("opened_approx"))
    f["closed_approx"] = bool(request.form.get("closed_approx"))
    rows = sorted({int(m[1]) for k in request.form if (m := _ROW.fullmatch(k))})
    cites = []
    for i in rows:
        c = {k: request.form.get(f"src-{i}-{k}", "") for k in _SOURCE}
        if not any(c[k].strip() for k in ("publisher", "title", "url", "date")):
            continue
        c["supports"] = request.form.getlist(f"src-{i}-supports")
        c["point_source"] = bool(request.form.get(f"src-{i}-point_source"))
        cites.append(c)
    f["citations"] = cites
    return f


def _render(values: dict, errors: dict, site_key: str | None, status: int = 200):
    from .helpers import basemap_context

    store, viewer = get_store(), current_principal()
    site = store.site_by_key(site_key, viewer) if site_key else None
    return render_template(
        "site_form.html", values=values, errors=errors, site=site, vocab=vocab(),
        tiers={str(k): _(v) for k, v in TIER_LABELS.items()}, basemap=basemap_context(),
    ), status


@bp.route("/sites/new", methods=["GET", "POST"])
def new():
    _require_edit()
    if request.method == "GET":
        return _render(form_fields(None), {}, None)
    fields = _submitted()
    try:
        site = create_site(get_store(), fields, current_principal().username)
    except SiteFormError as e:
        return _render(fields, e.errors, None, 400)
    return redirect(url_for("corroboration.dossier", key=site.key), 303)


@bp.route("/sites/<key>/edit", methods=["GET", "POST"])
def edit(key: str):
    _require_edit()
    store, viewer = get_store(), current_principal()
    site = store.site_by_key(key, viewer)
    if site is None:
        raise NotFound()
    if request.method == "GET":
        return _render(form_fields(site), {}, key)
    fields = _submitted()
    try:
        site = update_site(store, key, fields, viewer.username)
    except SiteFormError as e:
        return _render(fields, e.errors, key, 400)
    return redirect(url_for("corroboration.dossier", key=site.key), 303)
