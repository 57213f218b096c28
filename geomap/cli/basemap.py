"""`geomap basemap ...`: offline basemap packages."""

from __future__ import annotations

from pathlib import Path

import click

from . import _actor, _progress_printer, _settings, _store, main


@main.group()
def basemap() -> None:
    """Offline basemap packages (raster MBTiles or PMTiles) served from this instance."""


@basemap.command("install")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name in URLs and the layer list (default: from the file name).")
@click.pass_context
def basemap_install(ctx, file, name):
    """Check a raster MBTiles file or PMTiles v3 archive (png, jpg or webp tiles) and install a
    copy of it; the map pages then use it as their base layer, the relief stays as the other."""
    from .. import basemaps

    settings = _settings(ctx)
    pkg = basemaps.install(settings.instance_path, file, name,
                           progress=_progress_printer("basemap"))
    _store(ctx).audit(_actor(), "basemap.install", pkg.name,
                      {"sha256": pkg.sha256, "source": pkg.source, "size": pkg.size})
    w, s, e, n = pkg.bounds
    click.echo(f"installed basemap {pkg.name}: {pkg.tiles} {pkg.format} tiles, zoom "
               f"{pkg.minzoom}-{pkg.maxzoom}, bounds {w:g},{s:g},{e:g},{n:g}"
               + (f"; attribution: {pkg.attribution}" if pkg.attribution else
                  "; no attribution in its metadata (check the data's licence)"))


@basemap.command("list")
@click.option("--json", "as_json", is_flag=True, help="The packages as JSON.")
@click.pass_context
def basemap_list(ctx, as_json):
    """Installed basemap packages; the first is the maps' default base layer."""
    import json

    from .. import basemaps

    found = basemaps.installed(_settings(ctx).instance_path)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("no basemap package installed (the maps use the shipped relief)")
    for p in found:
        click.echo(f"{p.name}\t{p.format}\tz{p.minzoom}-{p.maxzoom}\t{p.tiles} tiles\t"
                   f"{p.size / 1e6:.1f} MB\t{p.attribution}")


@basemap.command("remove")
@click.argument("name")
@click.pass_context
def basemap_remove(ctx, name):
    """Remove an installed basemap package."""
    from .. import basemaps

    pkg = basemaps.remove(_settings(ctx).instance_path, name)
    _store(ctx).audit(_actor(), "basemap.remove", pkg.name, {"sha256": pkg.sha256})
    click.echo(f"removed basemap {pkg.name}")
