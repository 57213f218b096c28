"""`geomap imagery ...`: satellite scenes (ingest, catalogue, STAC, verification)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import NotFound
from . import _actor, _settings, _store, main


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
@click.option("--max-expansion", type=click.FloatRange(min=0),
              help="Most declared uncompressed bytes per file byte (0: no limit; default "
                   "GEOMAP_IMAGERY_MAX_EXPANSION or 1000). For a genuine, very sparse file.")
@click.option("--time-limit", type=click.FloatRange(min=1),
              help="Seconds the conversion may take (default GEOMAP_IMAGERY_CONVERT_S or 120).")
@click.pass_context
def imagery_add(ctx, file, acquired, sensor, provider, licence, tier, max_expansion,
                time_limit):
    """Ingest a GeoTIFF: evidentiary copy with SHA-256, COG working copy, footprint."""
    import dataclasses

    from ..imagery import Limits, catalogue, ingest
    from ..model import Tier

    store = _store(ctx)
    root = _settings(ctx).instance_path / "imagery"
    click.echo(f"validating and converting {Path(file).name} ...", err=True)
    limits = Limits.from_settings(_settings(ctx), convert_s=time_limit)
    if max_expansion is not None:
        limits = dataclasses.replace(limits, max_expansion=max_expansion or None)
    scene = ingest(file, root, acquired.date(), actor=_actor(), sensor=sensor,
                   provider=provider, licence=licence, tier=Tier(tier), progress_out=sys.stderr,
                   limits=limits)
    catalogue(store, scene, root, _actor())  # Conflict: the same file is a scene already
    click.echo(f"scene {scene.id}: {scene.label()}, {scene.width}x{scene.height}x{scene.bands} "
               f"{scene.dtype}, {scene.res_m:g} m, {scene.crs}, sha256 {scene.sha256}")


@imagery.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--site", help="Only scenes covering this site (key).")
@click.pass_context
def imagery_list(ctx, as_json, site):
    import json

    from ..policy import SYSTEM
    from ..store.scenes import SceneStore

    store = _store(ctx)
    bbox = None
    if site:
        s = store.site_by_key(site, SYSTEM)
        if s is None or s.geometry is None:
            raise NotFound(f"no located site {site!r}", field="site")
        bbox = s.geometry.bounds
    found = SceneStore(store).list(SYSTEM, bbox=bbox)
    if as_json:
        click.echo(json.dumps([{
            "id": x.id, "acquired": x.acquired.isoformat(), "sensor": x.sensor,
            "provider": x.provider, "licence": x.licence, "sha256": x.sha256, "crs": x.crs,
            "res_m": x.res_m, "width": x.width, "height": x.height, "bands": x.bands,
            "dtype": x.dtype, "footprint": x.footprint.__geo_interface__} for x in found],
            ensure_ascii=False, indent=1))
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
    from collections import Counter

    from ..imagery import UnreadableScene, cog_maxzoom
    from ..policy import SYSTEM
    from ..stac import write_catalogue
    from ..store.scenes import SceneStore

    store = _store(ctx)
    order = ["public", "partner", "internal"]
    wanted = set(order[: order.index(tier) + 1])
    every = SceneStore(store).list(SYSTEM)
    root = _settings(ctx).instance_path / "imagery"
    found = [x for x in every if x.tier in wanted]
    left = Counter(x.tier for x in every if x.tier not in wanted)

    def usable(x) -> bool:
        try:
            cog_maxzoom(root, x.id)
        except UnreadableScene as e:
            click.echo(f"left out {e} (geomap imagery verify)", err=True)
            return False
        if not (root / x.id / "original.tif").is_file():
            click.echo(f"left out scene {x.id}: evidentiary copy missing (geomap imagery "
                       "verify)", err=True)
            return False
        return True

    found = [x for x in found if usable(x)]
    write_catalogue(found, out_dir, root, copy_assets=copy_assets)
    store.audit(_actor(), "imagery.export_stac", str(out_dir),
                {"scenes": len(found), "tiers": sorted(wanted), "left_out": dict(left)})
    click.echo(f"{len(found)} STAC items in {out_dir / 'catalog.json'}")
    if left:
        what = ", ".join(f"{n} {t}" for t, n in sorted(left.items()))
        click.echo(f"left out {sum(left.values())} scenes not in the chosen tiers ({what}); "
                   "--tier to include them")


@imagery.command("verify")
@click.pass_context
def imagery_verify(ctx):
    """Re-hash every evidentiary copy and open every working copy; report any mismatch,
    missing or unreadable file (exit 1)."""
    from ..imagery import UnreadableScene, cog_maxzoom, sha256_file
    from ..policy import SYSTEM
    from ..store.scenes import SceneStore

    store = _store(ctx)
    root = _settings(ctx).instance_path / "imagery"
    bad = 0
    found = SceneStore(store).list(SYSTEM)
    for x in found:
        p = root / x.id / "original.tif"
        if not p.is_file():
            click.echo(f"FAIL {x.id}: evidentiary copy missing")
            bad += 1
        elif sha256_file(p) != x.sha256:
            click.echo(f"FAIL {x.id}: SHA-256 mismatch (the evidentiary copy changed)")
            bad += 1
        else:
            try:
                cog_maxzoom(root, x.id)
            except UnreadableScene as e:  # pages skip it; re-ingest the original to repair
                click.echo(f"FAIL {e}")
                bad += 1
    store.audit(_actor(), "imagery.verify", None, {"scenes": len(found), "failures": bad})
    if bad:
        raise SystemExit(1)
    click.echo(f"{len(found)} scenes verified")
