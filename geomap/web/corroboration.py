"""Review queue for proposed links, link decisions, and the site dossier."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from .. import corroboration as corr
from ..dossier import site_dossier
from ..errors import InvalidInput, NotFound
from ..policy import Permission
from ..store.links import LinkStore, review_count, review_queue
from . import get_store
from .helpers import basemap_context
from .labels import vocab
from .security import current_principal, require

bp = Blueprint("corroboration", __name__)


def _rule() -> corr.GradeRule:
    from . import get_settings

    return corr.GradeRule.from_settings(get_settings())


def _name_match_text(text: str) -> str:
    """The name evidence of a link, stored in English by the linker ("site name 'X'", "town X
    3 km away"), in the reader's language; anything else as stored."""
    import re

    from flask_babel import gettext as _

    if m := re.fullmatch(r"site name (.+)", text):
        return _("site name %(name)s", name=m[1])
    if m := re.fullmatch(r"town (.+) (\d+) km away", text):
        return _("town %(name)s, %(km)s km away", name=m[1], km=m[2])
    return text


REVIEW_PAGE_SIZE = 50


@bp.get("/review")
def review():
    """One page of the queue (`?page=`, 50 links a page), with the queue's true size."""
    require(Permission.LINK)
    from . import params

    page = params.integer(request.args, "page", 1, 1, 1_000_000)
    store, viewer = get_store(), current_principal()
    total = review_count(store, viewer)
    pages = max(1, -(-total // REVIEW_PAGE_SIZE))
    page = min(page, pages)
    offset = (page - 1) * REVIEW_PAGE_SIZE
    items = review_queue(store, viewer, _rule(), limit=REVIEW_PAGE_SIZE, offset=offset)
    for it in items:
        ev = it.get("evidence") or {}
        if ev.get("name_match"):
            ev["name_match"] = _name_match_text(ev["name_match"])
    return render_template("review.html", items=items, rule=_rule().message(), vocab=vocab(),
                           basemap=basemap_context(), total=total, page=page, pages=pages,
                           first=offset + 1 if items else 0, last=offset + len(items))


@bp.post("/api/links/decide")
def decide():
    """{"testimony_id", "site_id", "status": "confirmed"|"rejected"}; who and when are
    recorded (and audited)."""
    require(Permission.LINK)
    body = request.get_json(silent=True) or {}
    try:
        tid, sid = int(body["testimony_id"]), int(body["site_id"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("testimony_id and site_id: integers required") from None
    status = body.get("status")
    if status not in ("confirmed", "rejected"):
        raise InvalidInput("status: 'confirmed' or 'rejected'", field="status")
    store, viewer = get_store(), current_principal()
    # a visibility check only: reads id and tier, decrypts and audits nothing
    if not (store.testimony_visible(tid, viewer) and store.site_visible(sid, viewer)):
        raise NotFound()
    LinkStore(store).decide(tid, sid, status, actor=viewer.username)
    return jsonify({"ok": True, "testimony_id": tid, "site_id": sid, "status": status})


@bp.get("/sites/<key>")
def dossier(key: str):
    store, viewer = get_store(), current_principal()
    site = store.site_by_key(key, viewer)
    if site is None:
        from flask import redirect, url_for

        from ..sites import LEGACY_KEYS

        if key in LEGACY_KEYS:  # an address from before the structured list's keys
            return redirect(url_for("corroboration.dossier", key=LEGACY_KEYS[key]), 301)
        raise NotFound()
    d = site_dossier(store, viewer, site, _rule())
    from .annotations import vocab as annotation_vocab
    from .imagery import scenes_for_site

    return render_template("dossier.html", site=site, rows=d["rows"], ev=d["evidence"],
                           unit=d["unit"], timeline=d["timeline"], vocab=vocab(),
                           points=d["points"], imagery_geometry=d["imagery_geometry"],
                           observed=d["observed"], annotation_vocab=annotation_vocab(),
                           basemap=basemap_context(), scenes=scenes_for_site(site),
                           rule=_rule().message(),
                           # research notes and source details: staff who read or edit records
                           staff=viewer.can(Permission.READ_NARRATIVES)
                           or viewer.can(Permission.EDIT))
