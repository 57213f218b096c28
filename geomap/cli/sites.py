"""`geomap sites ...`: the facility list."""

from __future__ import annotations

from pathlib import Path

import click

from . import _actor, _store, main


@main.group()
def sites() -> None:
    """Sites (camps, centres)."""


@sites.command("import-public")
@click.argument("file", required=False)
@click.pass_context
def sites_import_public(ctx, file):
    """Import a public facility list in the shipped CSV format (default: the shipped list,
    facilities.csv with facility_sources.csv beside it). Idempotent; sites imported from the
    older raw list keep their ids (and links) under the new keys."""
    from ..boundaries import AdminTagger
    from ..demo import FACILITIES_CSV
    from ..sites import LEGACY_KEYS, read_facilities

    store = _store(ctx)
    items = read_facilities(file or FACILITIES_CSV)
    for s, t in zip(items, AdminTagger(store.boundary_units(1)).tag([s.geometry for s in items]),
                    strict=True):
        s.admin1 = t
    r = store.upsert_sites(items, former_keys=LEGACY_KEYS)
    store.audit(_actor(), "sites.import", Path(file or FACILITIES_CSV).name,
                {"inserted": r.inserted, "updated": r.updated})
    click.echo(f"{r.inserted} sites inserted, {r.updated} updated")


@sites.command("list")
@click.pass_context
def sites_list(ctx):
    from ..policy import SYSTEM

    store = _store(ctx)
    units = {u.id: u for u in store.boundary_units(1)}
    for s in store.sites(SYSTEM):
        unit = units.get(s.admin1.unit_id) if s.admin1 else None
        where = unit.name_en if unit else "-"
        if s.admin1 and s.admin1.outside:
            where += f" (outside every province, {s.admin1.distance_m:.0f} m away)"
        click.echo(f"{s.key}\t{s.facility_type}\t{where}")
