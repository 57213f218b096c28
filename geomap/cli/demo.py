"""`geomap demo`: a demo instance (open data, synthetic testimonies, a demo account)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import click

from ..config import Settings
from . import _actor, _progress_printer, _settings, main
from .link import _run_geocode
from .serve import _check_host, _serve


def _print_credentials(username: str, password: str, secret: str, codes: list[str]) -> None:
    import segno

    from ..accounts import totp_uri

    click.echo("")
    click.echo(f"  demo account: {username}   password: {password}")
    click.echo(f"  authenticator key: {secret}   (or scan the QR code below)")
    click.echo("  recovery codes, each signs in once (instead of an authenticator code):")
    for c in codes:
        click.echo(f"    {c}")
    segno.make(totp_uri(secret, username), error="m").terminal(compact=True)
    click.echo("")


def _instance_holds(settings: Settings) -> str:
    """What the instance's database holds, in words ("" for nothing worth keeping)."""
    from ..store.engine import database_holds

    return database_holds(settings.database_url)


def create_demo_user(store) -> tuple[str, str, str, list[str]]:
    """An admin account for the demo, enrolled in TOTP, with fresh recovery codes."""
    import secrets

    from .. import accounts as acc
    from ..policy import Role
    from ..store.accounts import AccountStore

    accounts = AccountStore(store)
    password = secrets.token_urlsafe(12)
    user = accounts.add("demo", Role.ADMIN, acc.hash_password(password), actor=_actor())
    secret = acc.new_totp_secret()
    codes = acc.new_recovery_codes()
    accounts.enrol_totp(user.id, secret, 0, [acc.recovery_hash(c) for c in codes], _actor())
    return user.username, password, secret, codes


@main.command()
@click.option("--testimonies", "n", type=click.IntRange(0, 2_000_000), default=2000,
              show_default=True, help="Number of synthetic testimonies.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--keep", is_flag=True,
              help="Serve the instance's existing data as it is (build it if there is none).")
@click.option("--fresh", is_flag=True,
              help="Delete the instance's database and build the demo again from nothing.")
@click.option("--host", help="Address to listen on (default: GEOMAP_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: GEOMAP_PORT or 5000).")
@click.option("--no-serve", is_flag=True, help="Build the demo instance and exit.")
@click.pass_context
def demo(ctx, n, seed, keep, fresh, host, port, no_serve):
    """Build a demo instance (open data + synthetic testimonies + a demo account) and serve it.

    An instance that already holds data is never wiped silently: without --keep or --fresh,
    geomap asks (default: keep) on a terminal and refuses otherwise."""
    from ..demo import load_reference_data, load_synthetic_testimonies
    from ..store import Store

    settings = _settings(ctx)
    host, port = host or settings.host, port or settings.port
    if keep and fresh:
        raise click.UsageError("--keep and --fresh contradict each other: choose one")
    _check_host(host)
    db_path = settings.instance_path / "geomap.sqlite3"
    held = _instance_holds(settings)
    if held and not settings.database_url.startswith("sqlite:///"):
        # a server database is never dropped by the demo (it may be shared): reuse it
        if fresh:
            raise click.ClickException(
                f"the database already holds data ({held}) and is a server database, which "
                "geomap never drops: drop and create it yourself, or run `geomap demo --keep`")
        keep = True
    if held and not (keep or fresh):
        what = f"{settings.instance_path} already holds data ({held})"
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise click.ClickException(
                f"{what}: run `geomap demo --keep` to serve it as it is, or `geomap demo "
                "--fresh` to delete it and build the demo again")
        fresh = click.confirm(f"{what}. Delete it all and build the demo again?",
                              default=False)
        if not fresh:
            click.echo("keeping it (--keep does this without asking; --fresh rebuilds)")
    fresh = fresh or not held
    if fresh and settings.database_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        (settings.instance_path / "audit.head").unlink(missing_ok=True)
        shutil.rmtree(settings.basemap_dir, ignore_errors=True)
    store = Store.for_instance(settings)
    ctx.obj["store"] = store
    if fresh:
        t0 = time.perf_counter()
        for line in load_reference_data(store):
            click.echo(line)
        added = load_synthetic_testimonies(store, n, seed, _progress_printer("testimonies"))
        store.audit(_actor(), "demo.build", str(settings.instance_path),
                    {"testimonies": added, "seed": seed})
        click.echo(f"{added} synthetic testimonies added in {time.perf_counter() - t0:.1f} s "
                   f"(seed {seed})")
        # as after an import: place names located and links proposed, so the review queue
        # and the grades are not empty at first sign-in
        _run_geocode(store)
        _print_credentials(*create_demo_user(store))
    else:
        where = db_path if settings.database_url.startswith("sqlite:///") else "the database"
        click.echo(f"reusing {where} (demo account as printed when it was built; "
                   "`geomap users reset-mfa demo` and `reset-password demo` make new ones)")
    if not no_serve:
        _serve(settings, store, host, port)
