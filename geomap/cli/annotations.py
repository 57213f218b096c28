"""`geomap annotations ...`: imagery annotations (export for Google Earth, QGIS, GIS tools)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import _store, main


@main.group("annotations")
def annotations_cli() -> None:
    """Annotations drawn on imagery scenes."""


@annotations_cli.command("export")
@click.option("--scene", "scene_id", required=True, help="The scene's id (geomap imagery list).")
@click.option("--format", "fmt", type=click.Choice(["geojson", "kml"]), default="geojson",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
def annotations_export(scene_id: str, fmt: str, output: Path | None) -> None:
    """A scene's annotations as GeoJSON or KML (a Placemark each, dated by the scene, styled by
    label). Notes stay out: they may name a witness."""
    from .. import annotations as ann
    from ..policy import SYSTEM

    store = _store(click.get_current_context())
    body, _media = ann.export(store, SYSTEM, scene_id, fmt)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)
        n = body.count(b"<Placemark") if fmt == "kml" else body.count(b'"Feature"')
        click.echo(f"{n} annotations written to {output}", err=True)
