"""`geomap export DATASET --format F --out FILE`: one dataset to a file (geomap.exports)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from . import _actor, _settings, _store, main


@main.command("export")
@click.argument("dataset", type=click.Choice(["sites", "testimonies", "links", "annotations",
                                              "boundaries"]))
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "geojson", "kml",
                                                                   "gpkg"]))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (replaced if it exists).")
@click.option("--tier", default="internal", type=click.Choice(["internal", "partner", "public"]),
              help="Who the file is for: its records' tiers and columns (public: no "
                   "testimonies or links).")
@click.option("--with-narratives", is_flag=True,
              help="Testimonies: add the narratives (internal exports only).")
@click.option("--bom", is_flag=True, help="CSV: a UTF-8 byte order mark, for Excel.")
@click.pass_context
def export_cmd(ctx, dataset, fmt, out, tier, with_narratives, bom):
    """Export DATASET as CSV, GeoJSON, KML or GeoPackage. The command acts with full rights
    (as every command does); --tier cuts the records and columns to an audience."""
    from ..corroboration import GradeRule
    from ..exports import ExportFilters, export
    from ..model import Tier
    from ..policy import Principal, Role

    viewer = Principal(None, _actor(), Role.ADMIN)
    f = ExportFilters(audience=Tier(tier), with_narratives=with_narratives, bom=bom,
                      rule=GradeRule.from_settings(_settings(ctx)))
    result = export(_store(ctx), viewer, dataset, fmt, f)
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(result.data, bytes):
        out.write_bytes(result.data)
    else:
        try:
            shutil.copyfile(result.data, out)
        finally:
            result.data.unlink(missing_ok=True)
    click.echo(f"{result.count} {dataset} written to {out}")
