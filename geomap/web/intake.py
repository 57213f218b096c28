"""Upload page for testimony files, its validation report, and the quarantine."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from ..errors import InvalidInput, NotFound, UnmappedColumns
from ..gazetteer import Gazetteer
from ..geocode import locate_and_link
from ..intake.mapping import DEFAULT_COLUMNS, preview
from ..intake.pending import PendingUploads
from ..intake.run import export_quarantine, import_testimonies, quarantine_rows
from ..policy import SYSTEM, Permission
from ..store.mappings import MappingStore
from . import get_settings, get_store
from .labels import message_text
from .security import current_principal, require

bp = Blueprint("intake", __name__, url_prefix="/import")
ALLOWED = {".csv", ".tsv", ".txt", ".xlsx", ".geojson", ".json", ".kml", ".kmz"}


# geomap fields in the order the mapping step shows them, with their translated names
def _field_labels() -> dict[str, str]:
    return {
        "witness_code": _("Witness code (required)"),
        "place_text": _("Place name"),
        "lat": _("Latitude"),
        "lon": _("Longitude"),
        "coordinates": _("Coordinates (one column)"),
        "geometry": _("Geometry (WKT or GeoJSON)"),
        "radius_m": _("Uncertainty radius"),
        "precision": _("Location precision"),
        "period": _("Period"),
        "violations": _("Violations"),
        "relationship": _("Witness's relationship"),
        "interview_date": _("Interview date"),
        "narrative": _("Narrative"),
        "tier": _("Visibility tier"),
    }


@bp.app_template_global()
def import_field_label(fld: str | None) -> str:
    """A problem's field as the mapping step names it, in the reader's language."""
    if not fld:
        return ""
    return _field_labels().get(fld) or {"location": _("Location")}.get(fld, fld)


# why the geocoder left a place name for a person; stored in English by geomap.geocode
_GEOCODE_REASONS = [
    (r"no candidate", lambda m: _("no place of that name in the gazetteer")),
    (r"best match scores (\d+) \(< (\d+)\)",
     lambda m: _("the best match scores %(score)s (at least %(min)s needed)", score=m[1],
                 min=m[2])),
    (r"ambiguous: (.+) \((\d+)\) and (.+) \((\d+)\)",
     lambda m: _("ambiguous: %(a)s (%(sa)s) and %(b)s (%(sb)s)", a=m[1], sa=m[2], b=m[3],
                 sb=m[4])),
    (r"(.+) has no coordinates", lambda m: _("%(name)s has no coordinates", name=m[1])),
]


@bp.app_template_global()
def geocode_reason(text: str | None) -> str:
    """A review reason in the reader's language (an unknown form shows as stored)."""
    import re

    for pattern, render in _GEOCODE_REASONS:
        if m := re.fullmatch(pattern, text or ""):
            return render(m)
    return text or ""


def _pending() -> PendingUploads:
    return PendingUploads(get_settings().instance_path / "uploads-pending")


def _missing_message(missing: list[str]) -> str:
    labels = _field_labels()
    names = [labels.get(m) or _("Location (latitude and longitude, coordinates, geometry or "
                                "place name)") for m in missing]
    return _("No column was recognised for: %(fields)s. Choose the columns below; nothing has "
             "been imported yet.", fields=", ".join(names))


def _mapping_page(upload_id: str, name: str, path: Path, mapping: dict | None = None,
                  error: str | None = None, report=None, status: int = 200,
                  mapping_name: str = ""):
    info = preview(path, mapping, name=name)  # messages name the user's file
    chosen = {**info["suggested"], **info["columns"]}
    if error is None and info["missing"]:
        error = _missing_message(info["missing"])
    return render_template("import.html", step="map", upload_id=upload_id, source=name,
                           preview=info, chosen=chosen, fields=_field_labels(), error=error,
                           report=report, mapping_name=mapping_name,
                           saved=MappingStore(get_store()).names()), status


def _upload_form(error: str | None = None, status: int = 200):
    return render_template("import.html", step="upload", error=error, report=None,
                           saved=MappingStore(get_store()).names()), status


@bp.route("/", methods=["GET", "POST"])
def upload():
    """Step 1: choose a file (and optionally a saved mapping); the file is kept server-side
    under a random id and the mapping step shows its first rows."""
    require(Permission.EDIT)
    if request.method == "GET":
        return _upload_form()
    f = request.files.get("file")
    name = secure_filename(f.filename or "") if f else ""
    if not f or not name:
        return _upload_form(_("Choose a file to import."), 400)
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED:
        return _upload_form(_("Unsupported file type: use CSV, XLSX, GeoJSON, KML or KMZ."), 400)
    mapping, mapping_name = None, request.form.get("saved_mapping") or ""
    if mapping_name:
        try:
            mapping = MappingStore(get_store()).get(mapping_name)
        except NotFound:
            return _upload_form(_("No saved mapping is called %(name)s.", name=mapping_name),
                                400)
    pending = _pending()
    upload_id = pending.save(f.stream, suffix, current_principal().username, name)
    path, _name = pending.get(upload_id, current_principal().username)
    try:
        return _mapping_page(upload_id, name, path, mapping, mapping_name=mapping_name)
    except InvalidInput as e:  # unreadable file, or a saved mapping naming absent columns
        if mapping is not None:
            return _mapping_page(upload_id, name, path, None, error=message_text(e), status=400)
        pending.delete(upload_id)  # the file is refused as a whole: nothing stored
        return _upload_form(_("This file cannot be imported: %(reason)s", reason=message_text(e)), 400)


@bp.post("/map/<upload_id>")
def import_mapped(upload_id: str):
    """Step 2: import the kept file with the columns chosen per field (a check-only run keeps
    the file for another try); the mapping may be saved under a name for later uploads."""
    require(Permission.EDIT)
    actor = current_principal().username
    pending = _pending()
    try:
        path, name = pending.get(upload_id, actor)
    except NotFound:
        raise NotFound() from None
    header = preview(path, {})["header"]
    mapping = {}
    for fld in DEFAULT_COLUMNS:
        col = request.form.get(f"col-{fld}", "")
        if col and col not in header:
            return _mapping_page(upload_id, name, path, None, status=400, error=_(
                "The file has no column %(col)s.", col=col))
        mapping[fld] = col  # "" = not in this file
    save_as = (request.form.get("mapping_name") or "").strip()
    dry_run = bool(request.form.get("dry_run"))
    try:
        report = import_testimonies(get_store(), path, actor=actor, mapping=mapping,
                                    dry_run=dry_run, source=name)
    except UnmappedColumns as e:
        return _mapping_page(upload_id, name, path, mapping, status=400,
                             error=_missing_message(e.unmapped), mapping_name=save_as)
    except InvalidInput as e:  # a refusal: nothing stored
        return _mapping_page(upload_id, name, path, mapping, status=400, mapping_name=save_as,
                             error=_("This file cannot be imported: %(reason)s", reason=message_text(e)))
    if save_as:
        try:
            MappingStore(get_store()).save(save_as, {f: c for f, c in mapping.items() if c},
                                           actor)
        except InvalidInput as e:
            return _mapping_page(upload_id, name, path, mapping, error=message_text(e), status=400,
                                 report=report, mapping_name=save_as)
    if dry_run:
        return _mapping_page(upload_id, name, path, mapping, report=report,
                             mapping_name=save_as)
    pending.delete(upload_id)
    geocoded = None
    if report.inserted:
        # this file's testimonies only, so the counts shown are about this upload; new
        # testimonies get their candidate links at once
        geocoded, _links = locate_and_link(get_store(), actor, keys=report.keys)
    return render_template("import.html", step="done", report=report, error=None,
                           geocoded=geocoded, saved=MappingStore(get_store()).names())


@bp.get("/quarantine")
def quarantine():
    require(Permission.EDIT)
    return render_template("quarantine.html", rows=quarantine_rows(get_store()))


@bp.get("/review")
def review(error: str | None = None, status: int = 200):
    """Place names the geocoder left for a person, with their candidates; each can be decided
    here (a candidate, a point on the map, or "cannot be located")."""
    require(Permission.EDIT)
    from ..geocode import review_items
    from .helpers import basemap_context

    store, viewer = get_store(), current_principal()
    items = [it for it in review_items(store) if store.testimony_visible(it["testimony_id"],
                                                                          viewer)]
    for it in items:
        _distances(it["candidates"])
    return render_template("geocode_review.html", items=items, basemap=basemap_context(),
                           done=request.args.get("done"), error=error), status


def _distances(cands: list[dict]) -> None:
    """Each candidate's distance to the nearest other one, so a person sees whether two
    candidates are one place or far apart."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for c in cands:
        ds = [geod.inv(c["lon"], c["lat"], o["lon"], o["lat"])[2] for o in cands
              if o is not c and None not in (c["lon"], o["lon"])]
        c["nearest_km"] = round(min(ds) / 1000, 1) if ds else None


@bp.post("/review/<int:testimony_id>")
def review_decide(testimony_id: int):
    """One decision on a review entry: `action` = candidate (with `candidate`, its index),
    point (`lat`, `lon`, `radius_m`) or unlocatable. Audited with the location before and
    after; the testimony's links are proposed again at once."""
    require(Permission.EDIT)
    from ..corroboration import link_testimonies
    from ..geocode import choose_candidate, mark_unlocatable, place_point

    store, viewer = get_store(), current_principal()
    if not store.testimony_visible(testimony_id, viewer):
        raise NotFound()
    action, f = request.form.get("action"), request.form
    try:
        if action == "candidate":
            choose_candidate(store, testimony_id, f.get("candidate"), viewer.username)
        elif action == "point":
            place_point(store, testimony_id, f.get("lat"), f.get("lon"), f.get("radius_m"),
                        viewer.username)
        elif action == "unlocatable":
            mark_unlocatable(store, testimony_id, viewer.username)
        else:
            raise InvalidInput("action: 'candidate', 'point' or 'unlocatable'", field="action")
    except NotFound:
        raise NotFound() from None
    except InvalidInput as e:  # named on the page, with nothing changed
        return review(_("This decision was not saved: %(reason)s", reason=message_text(e)), 400)
    link_testimonies(store, Gazetteer.from_store(store, SYSTEM), [testimony_id])
    from flask import redirect, url_for

    return redirect(url_for("intake.review", done=testimony_id), 303)


@bp.get("/quarantine.csv")
def quarantine_export():
    require(Permission.EDIT)
    store = get_store()
    source = request.args.get("source") or None
    text = export_quarantine(store, current_principal().username, source)
    resp = Response(text, mimetype="text/csv")
    resp.headers["Content-Disposition"] = "attachment; filename=quarantine.csv"
    resp.cache_control.no_store = True
    return resp


