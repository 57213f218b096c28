"""`geomap publish ...`: publications off the server. `export SLUG OUT_DIR` writes the published
snapshot as a folder any static web host can serve (geomap.embeds.export_static)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import NotFound
from . import _actor, _settings, _store, main


@main.group("publish")
def publish_cli() -> None:
    """Publications: redacted public maps."""


@publish_cli.command("export")
@click.argument("slug")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-zoom", default=16, show_default=True, type=click.IntRange(0, 18),
              help="Deepest zoom of the pre-rendered imagery tiles.")
@click.option("--min-zoom", default=None, type=click.IntRange(0, 18),
              help="Shallowest zoom of the tiles (default: where the extent fills a tile or two).")
@click.option("--max-tiles", default=2000, show_default=True, type=click.IntRange(1),
              help="Refuse an export that would pre-render more tiles than this.")
@click.pass_context
def export_cmd(ctx, slug, out_dir, max_zoom, min_zoom, max_tiles):
    """Write publication SLUG (its latest published version) to OUT_DIR, a new or empty folder:
    index.html, scripts, styles, GeoJSON and tiles, all with relative URLs."""
    from .. import embeds

    store = _store(ctx)
    snap = embeds.published(store, slug)
    if snap is None:
        raise NotFound(f"no published publication {slug!r}")
    res = embeds.export_static(store, _settings(ctx), snap, out_dir, max_zoom=max_zoom,
                               min_zoom=min_zoom, max_tiles=max_tiles, actor=_actor())
    click.echo(f"Wrote {res['out_dir']}: version {snap.get('version')}, {res['tiles']} tiles "
               f"(zooms {res['zooms'][0]}-{res['zooms'][1]}). Serve the folder with any static "
               f"web server.")
