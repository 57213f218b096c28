"""/import/uwazi: an Uwazi CSV (either dialect) or API JSON file, imported through the shipped
example template mapping, with its per-row report (geomap.intake.uwazi does the work)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from ..errors import InvalidInput
from ..geocode import locate_and_link
from ..intake.uwazi import import_uwazi, load_mapping
from ..policy import Permission
from . import get_store
from .labels import message_text
from .security import current_principal, require

bp = Blueprint("uwazi", __name__, url_prefix="/import/uwazi")
ALLOWED = {".csv", ".txt", ".json"}
LANGUAGES = ("en", "ko")


def _statuses() -> dict[str, str]:
    return {"stored": _("stored"), "would store": _("would be stored"),
            "skipped": _("skipped"), "quarantined": _("quarantined (see the problems)"),
            "mapped": _("mapped")}


def _page(error: str | None = None, report=None, geocoded=None, status: int = 200,
          form: dict | None = None):
    mapping = load_mapping()
    return render_template("uwazi_import.html", error=error, report=report,
                           geocoded=geocoded, templates=[(t.name, t.target) for t in mapping.templates],
                           targets={"sites": _("sites"), "testimonies": _("testimonies")},
                           mapping_name=mapping.source, statuses=_statuses(),
                           form=form or {}), status


@bp.route("/", methods=["GET", "POST"])
def upload():
    """The form, and on POST the import of the chosen file with its report."""
    require(Permission.EDIT)
    if request.method == "GET":
        return _page()
    form = {k: request.form.get(k, "") for k in ("language", "template", "include_unpublished",
                                                  "dry_run")}
    f = request.files.get("file")
    name = secure_filename(f.filename or "") if f else ""
    if not f or not name:
        return _page(_("Choose a file to import."), status=400, form=form)
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED:
        return _page(_("Unsupported file type: an Uwazi file is a CSV export or API JSON."),
                     status=400, form=form)
    language = form["language"] if form["language"] in LANGUAGES else "en"
    template = form["template"] or None
    if template and template not in [t.name for t in load_mapping().templates]:
        return _page(_("Unknown template."), status=400, form=form)
    actor = current_principal().username
    store = get_store()
    with tempfile.TemporaryDirectory(prefix="geomap-uwazi-upload-") as d:
        path = Path(d) / f"upload{suffix}"
        f.save(path)
        try:
            report = import_uwazi(store, path, actor, language=language,
                                  include_unpublished=bool(form["include_unpublished"]),
                                  template=template, dry_run=bool(form["dry_run"]),
                                  source=name)
        except InvalidInput as e:  # refused as a whole: nothing stored
            return _page(_("This file cannot be imported: %(reason)s",
                           reason=message_text(e)), status=400, form=form)
    geocoded = None
    t = report.testimonies
    if t is not None and not report.dry_run and t.inserted:
        geocoded, _links = locate_and_link(store, actor, keys=t.keys)
    return _page(report=report, geocoded=geocoded, form=form)
