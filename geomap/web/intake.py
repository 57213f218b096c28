"""Upload page for testimony files, its validation report, and the quarantine."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from ..errors import InvalidInput
from ..gazetteer import Gazetteer
from ..geocode import geocode_pending
from ..intake.run import import_testimonies, quarantine_csv, quarantine_rows
from ..policy import SYSTEM, Permission
from . import get_store
from .security import current_principal, require

bp = Blueprint("intake", __name__, url_prefix="/import")
ALLOWED = {".csv", ".tsv", ".txt", ".xlsx", ".geojson", ".json", ".kml", ".kmz"}


@bp.route("/", methods=["GET", "POST"])
def upload():
    require(Permission.EDIT)
    report, error = None, None
    if request.method == "POST":
        f = request.files.get("file")
        name = secure_filename(f.filename or "") if f else ""
        if not f or not name:
            error = _("Choose a file to import.")
        elif Path(name).suffix.lower() not in ALLOWED:
            error = _("Unsupported file type: use CSV, XLSX, GeoJSON, KML or KMZ.")
        else:
            # a private temporary directory per upload, under a name we choose
            with tempfile.TemporaryDirectory(prefix="geomap-upload-") as tmp:
                path = Path(tmp) / ("upload" + Path(name).suffix.lower())
                f.save(path)
                try:
                    report = import_testimonies(
                        get_store(), path, actor=current_principal().username,
                        dry_run=bool(request.form.get("dry_run")), source=name)
                except InvalidInput as e:  # the file is refused as a whole: nothing stored
                    error = _("This file cannot be imported: %(reason)s", reason=str(e))
    geocoded = None
    if report is not None and not report.dry_run and report.inserted:
        from ..corroboration import run_linking

        store = get_store()
        gaz = Gazetteer.from_store(store, SYSTEM)
        # this file's testimonies only, so the counts shown are about this upload
        geocoded = geocode_pending(store, gaz, actor=current_principal().username,
                                   keys=report.keys)
        run_linking(store, gaz)  # new testimonies get their candidate links at once
    status = 400 if error else 200
    return render_template("import.html", report=report, error=error,
                           geocoded=geocoded), status


@bp.get("/quarantine")
def quarantine():
    require(Permission.EDIT)
    return render_template("quarantine.html", rows=quarantine_rows(get_store()))


@bp.get("/review")
def review():
    """Place names the geocoder left for a person, with their candidates."""
    require(Permission.EDIT)
    from ..geocode import review_items

    return render_template("geocode_review.html", items=review_items(get_store()))


@bp.get("/quarantine.csv")
def quarantine_export():
    require(Permission.EDIT)
    store = get_store()
    source = request.args.get("source") or None
    text = quarantine_csv(store, source)
    store.audit(current_principal().username, "quarantine.export", source or "*")
    resp = Response(text, mimetype="text/csv")
    resp.headers["Content-Disposition"] = "attachment; filename=quarantine.csv"
    resp.cache_control.no_store = True
    return resp


