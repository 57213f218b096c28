"""`geomap audit ...` and `geomap keys ...`: the audit chain and the field-encryption keys."""

from __future__ import annotations

import click

from . import _actor, _store, main


@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx):
    """Check the whole chain; names every edited, removed or reordered entry."""
    from .. import audit as audit_lib

    store = _store(ctx)
    with store.read() as conn:
        n, problems = audit_lib.verify(conn, store.audit_head)
    for p in problems:
        click.echo(f"FAIL {p}")
    if problems:
        raise SystemExit(1)
    click.echo(f"audit log intact: {n} entries")


@audit.command("tail")
@click.option("-n", "count", type=int, default=20, show_default=True)
@click.pass_context
def audit_tail(ctx, count):
    """The newest entries, oldest of them first."""
    from .. import audit as audit_lib

    store = _store(ctx)
    with store.read() as conn:  # the query the audit page runs, unfiltered
        rows, _total = audit_lib.entries(conn, audit_lib.Filter(), limit=count)
    for r in reversed(rows):
        click.echo(f"{r.id}\t{r.ts}\t{r.actor}\t{r.action}\t{r.target or ''}\t{r.details}")


@main.group()
def keys() -> None:
    """Field-encryption keys (kept in the instance folder, outside the database)."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx):
    """Add a new key, re-encrypt every encrypted field with it, then retire the old keys."""
    from ..rotation import rotate_keys

    store = _store(ctx)
    result = rotate_keys(store, actor=_actor(),
                         progress=lambda done, total: click.echo(f"re-encrypted {done}/{total}",
                                                                 err=True))
    click.echo(f"active key {result.new_key}; {result.values} values re-encrypted; "
               f"retired keys {result.retired}")
