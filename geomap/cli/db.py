"""`geomap db ...` and `geomap init`: the schema and the shipped reference data."""

from __future__ import annotations

import click

from . import _actor, _settings, _store, main


@main.group()
def db() -> None:
    """Database schema (migrations)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx):
    """Create or upgrade the database schema in place (never recreates it)."""
    store = _store(ctx)
    click.echo(f"schema at revision {store.schema_revision()}")


@db.command("status")
@click.pass_context
def db_status(ctx):
    from ..store.engine import head_revision

    store = _store(ctx)
    click.echo(f"database: {store.url}")
    click.echo(f"revision: {store.schema_revision()} (head {head_revision()})")
    from ..policy import SYSTEM

    for k, v in store.stats(SYSTEM).items():
        click.echo(f"{k}: {v}")


@main.command("init")
@click.pass_context
def init(ctx):
    """Create or upgrade the database and load the shipped reference data: the country and
    province boundaries and the public facility list (idempotent; run it on a new instance)."""
    from ..demo import load_reference_data

    store = _store(ctx)
    click.echo(f"schema at revision {store.schema_revision()}")
    for line in load_reference_data(store):
        click.echo(line)
    store.audit(_actor(), "instance.init", str(_settings(ctx).instance_path))
