"""Proposed sites: groups of testimonies no listed site explains, and promoting one to a site.

The grouping and the audited promotion live in geomap.proposals; this module shows them and
turns the promotion form into its fields. Proposals are computed on each request (fast: only
unexplained testimonies are clustered) and once per request.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import InvalidInput, NotFound
from ..model import TIER_LABELS
from ..policy import Permission
from ..proposals import Proposal, ProposalGone, promote, proposals_for
from ..store.proposals import member_rows
from . import get_store
from .labels import message_text, vocab
from .security import current_principal

bp = Blueprint("proposals", __name__)


def _allowed() -> None:
    p = current_principal()
    if not (p.can(Permission.LINK) or p.can(Permission.EDIT)):
        raise NotFound()  # what a role may not see does not exist for it


def _proposals() -> list[Proposal]:
    if "gm_proposals" not in g:
        g.gm_proposals = proposals_for(get_store(), current_principal())
    return g.gm_proposals


def _render(status: int = 200, error: str | None = None, error_for: str | None = None,
            field: str | None = None, values: dict | None = None):
    from .helpers import basemap_context

    store, viewer = get_store(), current_principal()
    items = []
    for p in _proposals():
        items.append({"p": p, "members": member_rows(store, p.testimony_ids, viewer)})
    return render_template(
        "proposals.html", items=items, vocab=vocab(), basemap=basemap_context(),
        tiers={str(k): _(v) for k, v in TIER_LABELS.items()},
        can_promote=viewer.can(Permission.EDIT), codes=viewer.can(Permission.READ_WITNESS_CODES),
        error=error, error_for=error_for, field=field, values=values or {}), status


@bp.get("/proposals")
def index():
    _allowed()
    return _render()


@bp.post("/proposals/<pid>/promote")
def promote_one(pid: str):
    """name, name_ko, facility_type, tier: the proposal becomes a site (audited, site.promote)
    and its testimonies candidate links to it; then the new site's dossier."""
    _allowed()
    viewer = current_principal()
    if not viewer.can(Permission.EDIT):
        raise NotFound()
    fields = {k: request.form.get(k, "") for k in ("name", "name_ko", "facility_type", "tier")}
    try:
        site = promote(get_store(), pid, fields, viewer.username, viewer)
    except InvalidInput as e:  # named on the page, with nothing changed
        return _render(400, _("Not promoted: %(reason)s", reason=message_text(e)), pid,
                       e.field, fields)
    except ProposalGone:
        return _render(409, _("Not promoted: this proposal no longer exists (its testimonies "
                              "were linked or changed since the page was shown)."))
    return redirect(url_for("corroboration.dossier", key=site.key), 303)
