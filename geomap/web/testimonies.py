"""Search, the testimony page (fields, map, links, narrative on request, history) and the
testimony edit form."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import InvalidInput, NotFound
from ..model import TIER_LABELS
from ..policy import Permission
from ..search import search as run_search
from ..store import testimony_records as ts
from ..testimony_edit import EDITABLE, update_testimony
from . import get_store
from .labels import message_text, vocab
from .security import current_principal, require

bp = Blueprint("testimonies", __name__)


def _tiers() -> dict:
    return {str(k): _(v) for k, v in TIER_LABELS.items()}


@bp.get("/search")
def search_page():
    require(Permission.READ_MAP)
    result = run_search(get_store(), current_principal(), request.args.get("q"))
    problem = {"empty": _("Type a site or place name (any spelling, Hangul or Latin) or a "
                          "witness code."),
               "too_long": _("This search is too long: at most 100 characters.")
               }.get(result["problem"])
    status = 400 if result["problem"] == "too_long" else 200
    return render_template("search.html", r=result, problem=problem, vocab=vocab(),
                           codes=current_principal().can(Permission.READ_WITNESS_CODES)), status


def _map_data(record: dict, links: list[dict]) -> dict:
    from .helpers import basemap_context

    return {"basemap": basemap_context(), "boundaries": url_for("api.boundaries", level=1),
            "point": None if record["lon"] is None else {
                "lat": record["lat"], "lon": record["lon"], "radius_m": record["radius_m"]},
            "sites": [{"lat": x["lat"], "lon": x["lon"], "name": x["site_name"],
                       "status": x["status"]} for x in links if x["lon"] is not None]}


# audit actions a testimony's history shows, in the reader's language
def _action_names() -> dict:
    return {"testimony.update": _("Edited"), "narrative.view": _("Narrative read"),
            "link.confirmed": _("Link confirmed"), "link.rejected": _("Link rejected"),
            "geocode.place": _("Located on the map"), "geocode.choose": _("Place name chosen"),
            "geocode.unlocatable": _("Marked as not locatable")}


def _field_names() -> dict:
    return {"witness_code": _("Witness code"), "place_text": _("Reported place"),
            "location": _("Location"), "lat": _("Latitude"), "lon": _("Longitude"),
            "miny": _("Latitude"), "minx": _("Longitude"),
            "radius_m": _("Radius (m)"), "precision": _("Location precision"),
            "period": _("Period"), "relationship": _("Witness relationship"),
            "violations": _("Violations"), "interview_date": _("Interview date"),
            "tier": _("Tier"), "narrative": _("Narrative")}


@bp.get("/testimonies/<int:testimony_id>")
def testimony_page(testimony_id: int):
    """One testimony. The narrative only on request (`?narrative=1`) and for roles that may
    read it, audited like the API's; a testimony the viewer may not see is a 404."""
    store, viewer = get_store(), current_principal()
    may_read = viewer.can(Permission.READ_NARRATIVES)
    show = request.args.get("narrative") == "1" and may_read
    record = store.testimony(testimony_id, viewer, narrative=show)
    if record is None:
        raise NotFound()
    links = ts.links_of(store, testimony_id, viewer)
    staff = viewer.can(Permission.EDIT) or viewer.can(Permission.LINK)
    units = {u.id: u for u in store.boundary_units(1)}
    history = ts.history(store, testimony_id) if staff else []
    resp = render_template(
        "testimony.html", t=record, links=links, history=history, staff=staff,
        show_narrative=show, may_read=may_read,
        has_narrative=may_read and ts.has_narrative(store, testimony_id),
        can_edit=viewer.can(Permission.EDIT), vocab=vocab(), tiers=_tiers(),
        actions=_action_names(), fields=_field_names(), map_data=_map_data(record, links),
        saved=request.args.get("saved") == "1", units=units)
    # a narrative or a witness code on the page: never cached
    return resp, 200, {"Cache-Control": "no-store"}


def _form_values(current: dict) -> dict:
    return {
        "witness_code": current["witness_code"] or "", "place_text": current["place_text"] or "",
        "lat": "" if current["lat"] is None else f"{current['lat']:.6f}",
        "lon": "" if current["lon"] is None else f"{current['lon']:.6f}",
        "radius_m": "" if current["radius_m"] is None else f"{current['radius_m']:g}",
        "precision": current["precision"] or "", "period": current["period"] or "",
        "relationship": current["relationship"] or "", "violations": current["violations"],
        "interview_date": current["interview_date"].isoformat()
        if current["interview_date"] else "",
        "tier": current["tier"], "narrative": current["narrative"] or "",
    }


def _edit_form(testimony_id: int, values: dict, error: str | None = None,
               field: str | None = None, status: int = 200):
    store = get_store()
    record = {"lat": None, "lon": None, "radius_m": None}
    try:
        record = {"lat": float(values["lat"]), "lon": float(values["lon"]),
                  "radius_m": float(values["radius_m"] or 0) or None}
    except (TypeError, ValueError):
        pass
    links = ts.links_of(store, testimony_id, current_principal())
    resp = render_template(
        "testimony_edit.html", tid=testimony_id, v=values, error=error, field=field,
        vocab=vocab(), tiers=_tiers(), fields=_field_names(),
        may_read=current_principal().can(Permission.READ_NARRATIVES),
        map_data=_map_data(record, links))
    return resp, status, {"Cache-Control": "no-store"}


@bp.get("/testimonies/<int:testimony_id>/edit")
def edit_form(testimony_id: int):
    require(Permission.EDIT)
    store, viewer = get_store(), current_principal()
    current = ts.editable(store, testimony_id, viewer)
    if current is None:
        raise NotFound()
    values = _form_values(current)
    if viewer.can(Permission.READ_NARRATIVES):
        if current["narrative"] is not None:  # shown in the form: a read like any other
            store.audit(viewer.username, "narrative.view", f"testimony:{testimony_id}",
                        {"for": "edit"})
    else:
        values["narrative"] = ""
    return _edit_form(testimony_id, values)


@bp.post("/testimonies/<int:testimony_id>/edit")
def edit_save(testimony_id: int):
    require(Permission.EDIT)
    store, viewer = get_store(), current_principal()
    if not store.testimony_visible(testimony_id, viewer):
        raise NotFound()
    form = request.form
    fields = {k: form.get(k, "") for k in EDITABLE if k != "violations"}
    fields["violations"] = form.getlist("violations")
    if not viewer.can(Permission.READ_NARRATIVES):
        fields.pop("narrative")  # a field they cannot read is not theirs to overwrite
    try:
        update_testimony(store, testimony_id, fields, viewer)
    except NotFound:
        raise NotFound() from None
    except InvalidInput as e:  # the form again, as sent, with the message at the field
        values = {**fields, "narrative": fields.get("narrative", "")}
        return _edit_form(testimony_id, values, message_text(e), e.field, 400)
    return redirect(url_for("testimonies.testimony_page", testimony_id=testimony_id,
                            saved=1), 303)
