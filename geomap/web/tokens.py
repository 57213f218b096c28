"""The signed-in user's personal API tokens (/account/tokens): list, make (after a fresh
second-factor code), revoke. The rules live in geomap.tokens; this page parses and renders.
Only a session reaches it: an API token cannot make or revoke tokens."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from .. import tokens
from ..errors import InvalidInput, NotFound
from ..store.tokens import TokenStore
from . import get_store
from .labels import message_text
from .security import current_principal

bp = Blueprint("tokens", __name__, url_prefix="/account")


def _store() -> TokenStore:
    return TokenStore(get_store())


def _page(issued: tokens.Issued | None = None, error: str | None = None, status: int = 200,
          form: dict | None = None):
    viewer = current_principal()
    return render_template(
        "account_tokens.html", rows=_store().for_user(viewer.user_id), now=time.time(),
        issued=issued, error=error, form=form or {}, messages=get_flashed_messages(),
        default_days=tokens.DEFAULT_DAYS, max_days=tokens.MAX_DAYS,
        name_max=tokens.NAME_MAX), status


@bp.get("/tokens")
def index():
    return _page()


@bp.post("/tokens")
def create():
    viewer = current_principal()
    accounts = current_app.extensions["geomap_accounts"]
    user = accounts.get(viewer.user_id)
    form = {k: request.form.get(k, "") for k in ("name", "scope", "days")}
    try:
        issued = tokens.issue_with_second_factor(
            _store(), accounts, user, form["name"], form["scope"], form["days"],
            request.form.get("code", ""), request.remote_addr or "-")
    except InvalidInput as e:  # said on the form, which keeps what was typed (not the code)
        return _page(error=message_text(e), status=400, form=form)
    return _page(issued=issued)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    viewer = current_principal()
    if not tokens.revoke(_store(), token_id, viewer.username, user_id=viewer.user_id):
        raise NotFound()  # not this user's, or revoked already
    flash(_("The token is revoked: programs using it are refused from now on."))
    return redirect(url_for("tokens.index"))
