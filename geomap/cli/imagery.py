"""`geomap imagery ...`: satellite scenes (ingest, catalogue, STAC, verification)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import NotFound
from . import _actor, _settings, _store, main

# geomap.imagery's WORKING_COPY_CHOICES and default, spelled out so that `geomap --help` does not
# load GDAL (tests/test_imagery_lossless.py checks they agree)
WORKING_COPIES = ("lossless", "jpeg")


@main.group()
def imagery() -> None:
    """Satellite imagery scenes: ingest, catalogue, verification."""


@imagery.command("add")
@click.argument("file")
@click.option("--date", "acquired", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Acquisition date (YYYY-MM-DD).")
@click.option("--sensor")
@click.option("--provider")
@click.option("--licence")
@click.option("--tier", type=click.Choice(["internal", "partner", "public"]), default="internal",
              show_default=True)
@click.option("--working-copy", type=click.Choice(WORKING_COPIES), default=WORKING_COPIES[0],
              show_default=True,
              help="How the tiles' copy is encoded: lossless (tiles show the original's pixels) "
                   "or jpeg (8-bit RGB only; about 20x smaller, changes pixels and thin lines).")
@click.option("--max-expansion", type=click.FloatRange(min=0),
              help="Most declared uncompressed bytes per file byte (0: no limit; default "
                   "GEOMAP_IMAGERY_MAX_EXPANSION or 1000). For a genuine, very sparse file.")
@click.option("--time-limit", type=click.FloatRange(min=1),
              help="Seconds the conversion may take (default GEOMAP_IMAGERY_CONVERT_S or 120).")
@click.pass_context
def imagery_add(ctx, file, acquired, sensor, provider, licence, tier, working_copy,
                max_expansion, time_limit):
    """Ingest a GeoTIFF: evidentiary copy with SHA-256, COG working copy, footprint."""
    import dataclasses

    from ..imagery import Limits
    from ..model import Tier
    from ..scenes import add_scene

    click.echo(f"validating and converting {Path(file).name} ...", err=True)
    limits = Limits.from_settings(_settings(ctx), convert_s=time_limit)
    if max_expansion is not None:
        limits = dataclasses.replace(limits, max_expansion=max_expansion or None)
    # Conflict: the same file is a scene already
    scene = add_scene(_store(ctx), _settings(ctx), file, acquired.date(), _actor(),
                      sensor=sensor, provider=provider, licence=licence, tier=Tier(tier),
                      working_copy=working_copy, limits=limits, progress_out=sys.stderr)
    click.echo(f"scene {scene.id}: {scene.label()}, {scene.width}x{scene.height}x{scene.bands} "
               f"{scene.dtype}, {scene.res_m:g} m, {scene.crs}, sha256 {scene.sha256}, "
               f"{scene.working_copy} working copy")


@imagery.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--site", help="Only scenes meeting this site's area (key).")
@click.pass_context
def imagery_list(ctx, as_json, site):
    import json

    from ..policy import SYSTEM
    from ..scenes import list_scenes, scene_summary

    store = _store(ctx)
    located = None
    if site:
        located = store.site_by_key(site, SYSTEM)
        if located is None or located.geometry is None:
            raise NotFound(f"no located site {site!r}", field="site")
    # every catalogued scene, a broken one too (geomap imagery verify says what is wrong)
    found = list_scenes(store, _settings(ctx), SYSTEM, site=located, readable_only=False)
    if as_json:
        click.echo(json.dumps([scene_summary(x) for x in found], ensure_ascii=False, indent=1))
        return
    for x in found:
        click.echo(f"{x.id}  {x.label()}  {x.res_m:g} m  {x.width}x{x.height}  {x.original_name}")


@imagery.command("stac")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--tier", type=click.Choice(["public", "partner", "internal"]), default="public",
              show_default=True,
              help="Lowest tier to include: a catalogue is a publication, public unless asked.")
@click.option("--copy-assets", is_flag=True,
              help="Copy the image files into the catalogue (a folder that can be moved); "
                   "otherwise assets point at the instance's imagery folder.")
@click.pass_context
def imagery_stac(ctx, out_dir, tier, copy_assets):
    """Write a static STAC catalogue of the scenes (validated against the STAC schemas)."""
    from ..scenes import export_stac

    done = export_stac(_store(ctx), _settings(ctx), out_dir, _actor(), lowest_tier=tier,
                       copy_assets=copy_assets)
    for why in done.unusable:
        click.echo(f"left out {why}", err=True)
    click.echo(f"{done.items} STAC items in {done.catalog}")
    if done.other_tiers:
        what = ", ".join(f"{n} {t}" for t, n in sorted(done.other_tiers.items()))
        click.echo(f"left out {sum(done.other_tiers.values())} scenes not in the chosen tiers "
                   f"({what}); --tier to include them")


@imagery.command("verify")
@click.pass_context
def imagery_verify(ctx):
    """Re-hash every evidentiary copy and every working copy against the catalogue and open
    every working copy; report any mismatch, missing or unreadable file (exit 1)."""
    from ..scenes import verify_scenes

    checks = verify_scenes(_store(ctx), _settings(ctx), _actor())
    for c in checks:
        for problem in c.problems:
            click.echo(f"FAIL {c.scene_id}: {problem}")
    bad = sum(not c.ok for c in checks)
    if bad:
        raise SystemExit(1)
    unrecorded = sum(not c.working_hash_recorded for c in checks)
    click.echo(f"{len(checks)} scenes verified"
               + (f" ({unrecorded} working copies made before their hash was recorded: "
                  "opened, not re-hashed)" if unrecorded else ""))
