"""Imagery scenes as a service: add, list, verify and publish (STAC) them. `geomap imagery ...`
and the imagery pages both call these and only parse their input and show what comes back.

geomap.imagery does the work on files (safe ingest, the COG); this module ties it to the
catalogue (geomap.store.scenes), the viewer's tiers and the audit log.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NotFound
from .imagery import (
    WORKING_COPY_DEFAULT,
    Limits,
    Scene,
    UnreadableScene,
    catalogue,
    imagery_root,
    ingest,
    sha256_file,
    working_copy_info,
)
from .model import PRECISION_MAX_RADIUS_M, Tier

if TYPE_CHECKING:
    from .config import Settings
    from .model import Site
    from .policy import Principal
    from .store.protocol import StoreLike

log = logging.getLogger(__name__)
TIER_ORDER = ("public", "partner", "internal")  # widest audience first


def add_scene(store: StoreLike, settings: Settings, path: str | Path, acquired: date,
              actor: str, *, sensor: str | None = None, provider: str | None = None,
              licence: str | None = None, tier: Tier = Tier.INTERNAL,
              original_name: str | None = None, working_copy: str = WORKING_COPY_DEFAULT,
              limits: Limits | None = None, progress_out=None) -> Scene:
    """Ingest the GeoTIFF at `path` (evidentiary copy with SHA-256, COG working copy: lossless
    unless `working_copy` is "jpeg") and catalogue it (audited). InvalidInput names what is
    wrong with the file; Conflict names the scene that holds the same file already."""
    root = imagery_root(settings)
    scene = ingest(path, root, acquired, actor=actor, sensor=sensor, provider=provider,
                   licence=licence, tier=tier, original_name=original_name,
                   progress_out=progress_out, working_copy=working_copy,
                   limits=limits or Limits.from_settings(settings))
    return catalogue(store, scene, root, actor)


def readable(settings: Settings, scenes: list[Scene]) -> list[Scene]:
    """`scenes` without those whose working copy is missing or unreadable (each is logged: one
    broken file must not take a page down for everyone); each kept one gets its `maxzoom` and
    `working_copy` from its COG."""
    root = imagery_root(settings)
    out = []
    for s in scenes:
        try:
            wc = working_copy_info(root, s.id)
        except (UnreadableScene, NotFound) as e:
            log.warning("imagery: skipping %s", e)
            continue
        s.maxzoom, s.working_copy = wc.maxzoom, wc.choice
        out.append(s)
    return out


def site_bbox(site: Site) -> tuple[float, float, float, float] | None:
    """The box where a site may be (its point and its precision's radius), in degrees."""
    if site.geometry is None:
        return None
    r_deg = PRECISION_MAX_RADIUS_M.get(site.precision, 10_000.0) / 111_000
    x, y = site.geometry.x, site.geometry.y
    return (x - r_deg, y - r_deg, x + r_deg, y + r_deg)


def list_scenes(store: StoreLike, settings: Settings, viewer: Principal, *,
                site: Site | None = None, since: date | None = None, until: date | None = None,
                readable_only: bool = True) -> list[Scene]:
    """Scenes `viewer` may see, oldest first: with `site`, those meeting the site's area (none
    when it has no location); between `since` and `until`; with `readable_only`, only those
    whose working copy opens (see `readable`)."""
    from .store.scenes import SceneStore

    bbox = None
    if site is not None:
        bbox = site_bbox(site)
        if bbox is None:
            return []
    found = SceneStore(store).list(viewer, bbox=bbox, since=since, until=until)
    return readable(settings, found) if readable_only else found


def scene_summary(s: Scene) -> dict:
    """A scene as plain JSON (`geomap imagery list --json`)."""
    return {"id": s.id, "acquired": s.acquired.isoformat(), "sensor": s.sensor,
            "provider": s.provider, "licence": s.licence, "sha256": s.sha256, "crs": s.crs,
            "res_m": s.res_m, "width": s.width, "height": s.height, "bands": s.bands,
            "dtype": s.dtype, "working_copy": s.working_copy, "tier": s.tier,
            "footprint": s.footprint.__geo_interface__}


@dataclass
class SceneCheck:
    """One scene's verification: `problems` empty when both copies are as catalogued."""

    scene_id: str
    problems: list[str] = field(default_factory=list)
    working_copy: str | None = None
    working_hash_recorded: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_scenes(store: StoreLike, settings: Settings, actor: str) -> list[SceneCheck]:
    """Re-hash every evidentiary copy against the catalogue's SHA-256, open every working copy
    and re-hash it against the hash recorded when it was made (the imagery.add audit entry;
    scenes added before that was recorded are only opened). Audited."""
    from .policy import SYSTEM
    from .store.scenes import SceneStore

    root = imagery_root(settings)
    scenes = SceneStore(store)
    recorded = scenes.working_hashes()
    out = []
    for x in scenes.list(SYSTEM):
        check = SceneCheck(x.id)
        original = root / x.id / "original.tif"
        if not original.is_file():
            check.problems.append("evidentiary copy missing")
        elif sha256_file(original) != x.sha256:
            check.problems.append("SHA-256 mismatch (the evidentiary copy changed)")
        try:
            check.working_copy = working_copy_info(root, x.id).choice
        except UnreadableScene as e:  # pages skip it; re-ingest the original to repair
            check.problems.append(str(e).removeprefix(f"scene {x.id}: "))
        else:
            if (want := recorded.get(x.id)) is not None:
                check.working_hash_recorded = True
                if sha256_file(root / x.id / "cog.tif") != want:
                    check.problems.append("working copy SHA-256 mismatch (the working copy "
                                          "changed since it was made)")
        out.append(check)
    store.audit(actor, "imagery.verify", None,
                {"scenes": len(out), "failures": sum(not c.ok for c in out)})
    return out


@dataclass
class StacExport:
    catalog: Path
    items: int
    unusable: list[str]  # why each catalogued scene of the chosen tiers was left out
    other_tiers: dict[str, int]  # scenes not in the chosen tiers, per tier


def export_stac(store: StoreLike, settings: Settings, out_dir: Path, actor: str,
                lowest_tier: str = "public", copy_assets: bool = False) -> StacExport:
    """Write a static STAC catalogue of the scenes in `lowest_tier` and wider audiences (a
    catalogue is a publication: public unless asked), leaving out scenes whose files are
    missing or unreadable. Audited."""
    from .errors import InvalidInput
    from .policy import SYSTEM
    from .stac import write_catalogue
    from .store.scenes import SceneStore

    if lowest_tier not in TIER_ORDER:
        raise InvalidInput(f"tier: one of {', '.join(TIER_ORDER)}", field="tier")
    wanted = set(TIER_ORDER[: TIER_ORDER.index(lowest_tier) + 1])
    every = SceneStore(store).list(SYSTEM)
    root = imagery_root(settings)
    other = Counter(x.tier for x in every if x.tier not in wanted)
    found, unusable = [], []
    for x in every:
        if x.tier not in wanted:
            continue
        try:
            x.working_copy = working_copy_info(root, x.id).choice
        except UnreadableScene as e:
            unusable.append(f"{e} (geomap imagery verify)")
            continue
        if not (root / x.id / "original.tif").is_file():
            unusable.append(f"scene {x.id}: evidentiary copy missing (geomap imagery verify)")
            continue
        found.append(x)
    write_catalogue(found, out_dir, root, copy_assets=copy_assets)
    store.audit(actor, "imagery.export_stac", str(out_dir),
                {"scenes": len(found), "tiers": sorted(wanted), "left_out": dict(other)})
    return StacExport(out_dir / "catalog.json", len(found), unusable, dict(other))
