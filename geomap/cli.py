"""`geomap` command line (click, as Flask does)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import sys
import time
from pathlib import Path

import click

from .config import Settings, default_instance_path, load_settings
from .errors import GeomapError


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _store(ctx: click.Context):
    from .store import Store

    if "store" not in ctx.obj:
        ctx.obj["store"] = Store(_settings(ctx).database_url)
    return ctx.obj["store"]


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GeomapError as e:  # a clear message, not a traceback
            raise click.ClickException(str(e)) from e


@click.group(cls=_Group)
@click.option("--instance", type=click.Path(file_okay=False, path_type=Path),
              help="Instance folder (default: $GEOMAP_INSTANCE or ./instance).")
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """geomap: corroborate testimonies about North Korean detention sites."""
    ctx.ensure_object(dict)
    ctx.obj["instance"] = (instance or default_instance_path()).resolve()
    ctx.obj["settings"] = load_settings(ctx.obj["instance"])


def _progress_printer(label: str):
    state = {"bar": None, "stage": None}

    def update(stage: str, done: int, total: int) -> None:
        if state["stage"] != stage:
            if state["bar"] is not None:
                state["bar"].render_finish()
            state["bar"] = click.progressbar(length=total, label=f"{label}: {stage}",
                                             file=sys.stderr, show_pos=True)
            state["stage"], state["done"] = stage, 0
        state["bar"].update(done - state["done"])
        state["done"] = done
        if done >= total:
            state["bar"].render_finish()
            state["stage"] = None

    return update


# -- db ----------------------------------------------------------------------------------------
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
    from .store.engine import head_revision

    store = _store(ctx)
    click.echo(f"database: {store.url}")
    click.echo(f"revision: {store.schema_revision()} (head {head_revision()})")
    for k, v in store.stats().items():
        click.echo(f"{k}: {v}")


# -- boundaries --------------------------------------------------------------------------------
@main.group()
def boundaries() -> None:
    """Administrative boundaries."""


@boundaries.command("import")
@click.argument("file")
@click.option("--level", type=click.IntRange(0, 2), required=True,
              help="0 country, 1 province, 2 county.")
@click.option("--name-field", help="English/romanised name field (default: first of name_en, name, NAME_1, shapeName...).")
@click.option("--name-ko-field", help="Korean name field (default: first of name_ko, name_local, NL_NAME_1...).")
@click.option("--code-field", help="Unique code field (default: first of hasc, code_hasc, adm1_code, shapeID...).")
@click.pass_context
def boundaries_import(ctx, file, level, name_field, name_ko_field, code_field):
    """Import boundary units from FILE (any vector format GDAL reads). Idempotent."""
    from .boundaries import import_boundaries

    report = import_boundaries(_store(ctx), file, level, name_field=name_field,
                               name_ko_field=name_ko_field, code_field=code_field)
    for line in report.lines():
        click.echo(line)


# -- sites -------------------------------------------------------------------------------------
@main.group()
def sites() -> None:
    """Sites (camps, centres)."""


@sites.command("import-public")
@click.argument("file", required=False)
@click.pass_context
def sites_import_public(ctx, file):
    """Import a public facility list in the shipped CSV format (default: the shipped list)."""
    from .boundaries import AdminTagger
    from .demo import FACILITIES_CSV
    from .sites import read_facilities

    store = _store(ctx)
    items = read_facilities(file or FACILITIES_CSV)
    for s, t in zip(items, AdminTagger(store.boundary_units(1)).tag([s.geometry for s in items]),
                    strict=True):
        s.admin1 = t
    r = store.upsert_sites(items)
    click.echo(f"{r.inserted} sites inserted, {r.updated} updated")


@sites.command("list")
@click.pass_context
def sites_list(ctx):
    store = _store(ctx)
    units = {u.id: u for u in store.boundary_units(1)}
    for s in store.sites():
        unit = units.get(s.admin1.unit_id) if s.admin1 else None
        where = unit.name_en if unit else "-"
        if s.admin1 and s.admin1.outside:
            where += f" (outside every province, {s.admin1.distance_m:.0f} m away)"
        click.echo(f"{s.key}\t{s.facility_type}\t{where}")


# -- demo / serve --------------------------------------------------------------------------------
def _check_local_host(host: str) -> None:
    try:
        addrs = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, None)}
    except (socket.gaierror, ValueError) as e:
        raise click.BadParameter(f"cannot resolve {host!r}: {e}", param_hint="--host") from None
    if not all(a.is_loopback for a in addrs):
        raise click.BadParameter(
            f"{host!r} is reachable from other machines. geomap has no accounts yet "
            "(single-user local mode), so it only listens on loopback (127.0.0.1 or ::1).",
            param_hint="--host")


def _serve(settings: Settings, store, host: str, port: int, threads: int = 8) -> None:
    import waitress

    from .web import create_app

    _check_local_host(host)
    app = create_app(settings, store)
    click.echo(f"geomap serving {settings.instance_path} on http://{host}:{port}/ "
               "(single-user local mode; Ctrl+C stops)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="geomap")


@main.command()
@click.option("--testimonies", "n", type=click.IntRange(0, 2_000_000), default=2000,
              show_default=True, help="Number of synthetic testimonies.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--keep", is_flag=True, help="Reuse the existing instance database.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo instance and exit.")
@click.pass_context
def demo(ctx, n, seed, keep, host, port, no_serve):
    """Build a demo instance (open data + synthetic testimonies) and serve it."""
    from .demo import load_reference_data, load_synthetic_testimonies
    from .store import Store

    settings = _settings(ctx)
    _check_local_host(host)
    db_path = settings.instance_path / "geomap.sqlite3"
    fresh = not (keep and db_path.exists())
    if fresh and settings.database_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(settings.basemap_dir, ignore_errors=True)
    store = Store(settings.database_url)
    ctx.obj["store"] = store
    if fresh:
        t0 = time.perf_counter()
        for line in load_reference_data(store):
            click.echo(line)
        added = load_synthetic_testimonies(store, n, seed, _progress_printer("testimonies"))
        click.echo(f"{added} synthetic testimonies added in {time.perf_counter() - t0:.1f} s "
                   f"(seed {seed})")
    else:
        click.echo(f"reusing {db_path}")
    if not no_serve:
        _serve(settings, store, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.pass_context
def serve(ctx, host, port, threads):
    """Serve an existing instance."""
    _serve(_settings(ctx), _store(ctx), host, port, threads)


if __name__ == "__main__":  # pragma: no cover
    main()
