"""`geomap tokens ...`: personal API tokens, made by an administrator acting for a user (whoever
runs the command line holds the database and keys already, so no second factor is asked; the
audit log names the command line as the maker). Users make their own at /account/tokens."""

from __future__ import annotations

import json
import time

import click

from ..errors import NotFound
from . import _actor, _store, main


@main.group()
def tokens() -> None:
    """Personal API tokens for QGIS, GDAL and scripts (Bearer, or the Basic password)."""


def _tokens(ctx):
    from ..store.tokens import TokenStore

    return TokenStore(_store(ctx))


def _user(ctx, username: str):
    from ..store.accounts import AccountStore

    user = AccountStore(_store(ctx)).by_name(username)
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'QGIS, field laptop').")
@click.option("--scope", type=click.Choice(["read", "read-write"]), default="read",
              show_default=True, help="read-write lets it make changes through /api/.")
@click.option("--days", type=int, default=90, show_default=True,
              help="Days until it expires (1-365).")
@click.pass_context
def tokens_create(ctx, username, name, scope, days):
    """Make a token for USERNAME; prints it once (only its hash is kept)."""
    from .. import tokens as lib

    issued = lib.issue(_tokens(ctx), _user(ctx, username), name, scope, days, actor=_actor())
    rec = issued.record
    click.echo(f"token {rec.id} for {username} ({rec.scope}, expires "
               f"{time.strftime('%Y-%m-%d', time.gmtime(rec.expires_at))} UTC); shown only now:",
               err=True)
    click.echo(issued.token)


@tokens.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_context
def tokens_list(ctx, username, as_json):
    """Tokens of USERNAME (everyone's without it), newest first; never the token itself."""
    uid = _user(ctx, username).id if username else None
    now = time.time()
    rows = [{"id": t.id, "user": t.username, "name": t.name, "scope": t.scope,
             "prefix": f"gmt_{t.public_id}_", "state": t.state(now),
             "created": _day(t.created_at), "expires": _day(t.expires_at),
             "last_used": _day(t.last_used_at)} for t in _tokens(ctx).for_user(uid)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        click.echo("\t".join(str(r[k] or "-") for k in ("id", "user", "prefix", "scope",
                                                         "state", "expires", "last_used",
                                                         "name")))


def _day(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t is not None else None


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def tokens_revoke(ctx, token_id):
    """Revoke a token by its id (from `geomap tokens list`): refused from the next request."""
    from .. import tokens as lib

    if not lib.revoke(_tokens(ctx), token_id, actor=_actor()):
        raise NotFound(f"no live token with id {token_id}", field="token_id")
    click.echo(f"revoked token {token_id}")
