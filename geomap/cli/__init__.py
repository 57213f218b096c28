"""`geomap` command line (click, as Flask does): `main`, the helpers every command group
shares, and the one mapping of library errors to an exit code. Each command group lives in a
module of its own beside this one (as datasette's cli does)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from ..config import Settings, load_settings
from ..errors import GeomapError

EXIT_REFUSED = 2  # a GeomapError: the input or the instance's state refused the command


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _store(ctx: click.Context):
    from ..store import Store

    if "store" not in ctx.obj:
        ctx.obj["store"] = Store.for_instance(_settings(ctx))
    return ctx.obj["store"]


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (container)
        return "cli"


class _Group(click.Group):
    """Maps the library's errors (geomap.errors) to the command line in one place: a one-line
    message on stderr and exit code 2, or with --json a JSON error document on stdout (the
    only thing there, so a script can parse it), never a traceback."""

    def invoke(self, ctx: click.Context):
        # read before click consumes them: the subcommand's own context is gone on error
        as_json = "--json" in [*getattr(ctx, "_protected_args", []), *ctx.args]
        try:
            return super().invoke(ctx)
        except GeomapError as e:
            fail(e, as_json)


def error_document(e: GeomapError) -> dict:
    """The JSON a command prints for a library error: the web's shape, in English."""
    doc = e.as_dict() if hasattr(e, "as_dict") else {}
    return {**doc, "error": e.code, "message": str(e), "field": e.field}


def fail(e: GeomapError, as_json: bool = False) -> NoReturn:
    """Report `e` and exit 2 (click's code for a usage error: the input was refused)."""
    import json

    if as_json:
        click.echo(json.dumps(error_document(e), ensure_ascii=False, indent=1))
    else:
        click.echo(f"Error: {e}", err=True)  # the message names the input it refuses
    sys.exit(EXIT_REFUSED)


@click.group(cls=_Group)
@click.option("--instance", type=click.Path(file_okay=False, path_type=Path),
              help="Instance folder (default: $GEOMAP_INSTANCE or ./instance).")
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """geomap: corroborate testimonies about North Korean detention sites."""
    ctx.ensure_object(dict)
    # --instance, else GEOMAP_INSTANCE, else ./instance; then the settings (config.SETTINGS)
    ctx.obj["settings"] = load_settings(instance)
    ctx.obj["instance"] = ctx.obj["settings"].instance_path


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


# the command groups register themselves on `main` when imported
from . import (  # noqa: E402, F401
    admin,
    archive,
    basemap,
    boundaries,
    db,
    demo,
    exchange,
    exports,
    gazetteer,
    imagery,
    intake,
    link,
    publish,
    serve,
    settings,
    sites,
    tokens,
    users,
    uwazi,
)

# by name: in this package `annotations` is the __future__ feature, not the submodule
from .annotations import annotations_cli  # noqa: E402, F401
from .serve import _check_host  # noqa: E402, F401  (tests import it from here)
