"""`geomap boundaries ...`: administrative boundaries."""

from __future__ import annotations

from pathlib import Path

import click

from . import _actor, _store, main


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
    """Import boundary units from FILE (.gpkg, .shp, .geojson, .json, .fgb or .kml; never
    VRT or URLs). Idempotent."""
    from ..boundaries import import_boundaries

    store = _store(ctx)
    report = import_boundaries(store, file, level, name_field=name_field,
                               name_ko_field=name_ko_field, code_field=code_field)
    r = report.result
    store.audit(_actor(), "boundaries.import", Path(file).name,
                {"level": level, "inserted": r.inserted, "updated": r.updated,
                 "skipped": len(report.skipped), "repaired": len(report.repaired)})
    for line in report.lines():
        click.echo(line)
