"""`geomap import uwazi FILE`: entities from an Uwazi CSV (either dialect) or API JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import _actor, _store
from .intake import import_
from .link import _run_geocode


@import_.command("uwazi")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Template mapping (TOML or JSON): Uwazi template -> sites|testimonies, "
                   "property -> geomap field. Default: the shipped example "
                   "(geomap/intake/uwazi_mappings/example_detention_database.toml).")
@click.option("--language", default="en", show_default=True, metavar="CODE",
              help="Which language's columns (__en, __ko) to import; the other language is "
                   "kept where a field takes it (a site's Korean name, aliases).")
@click.option("--template", metavar="NAME",
              help="The mapping's template for entities whose template the file does not "
                   "name or the mapping does not know (the import dialect names none).")
@click.option("--include-unpublished", is_flag=True,
              help="Import entities unpublished in Uwazi too, as internal-tier records.")
@click.option("--dry-run", is_flag=True, help="Map, validate and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_uwazi_cmd(ctx, file, mapping_file, language, template, include_unpublished,
                     dry_run, as_json):
    """Import sites and testimonies exported from Uwazi (CSV in the import or export dialect,
    or API JSON), with a per-row report of every cell used or dropped. Re-running the same
    file adds nothing (sites update in place; testimonies are skipped by content)."""
    from ..intake.uwazi import import_uwazi, load_mapping

    store = _store(ctx)
    report = import_uwazi(store, file, _actor(), mapping=load_mapping(mapping_file),
                          language=language.strip().lower(),
                          include_unpublished=include_unpublished, template=template,
                          dry_run=dry_run)
    out = report.as_dict()
    if not as_json:
        for line in report.lines():
            click.echo(line)
    t = report.testimonies
    if t is not None and not dry_run and t.inserted:
        out.update(_run_geocode(store, keys=t.keys, echo=not as_json))
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=1, default=str))
