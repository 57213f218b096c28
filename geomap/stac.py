"""STAC Items for imagery scenes, and a static catalogue (core STAC only, so it validates
offline against the schemas pystac ships)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pystac

from .imagery import Scene


def scene_item(scene: Scene) -> pystac.Item:
    item = pystac.Item(
        id=scene.id,
        geometry=scene.footprint.__geo_interface__,
        bbox=list(scene.footprint.bounds),
        datetime=datetime.combine(scene.acquired, time(0), tzinfo=UTC),
        properties={
            "title": scene.label(), "gsd": scene.res_m, "platform": scene.sensor,
            "providers": [{"name": scene.provider, "roles": ["producer"]}]
            if scene.provider else None,
            "license": scene.licence or "other",
            "geomap:original_name": scene.original_name, "geomap:sha256": scene.sha256,
            "geomap:crs": scene.crs, "geomap:size": [scene.width, scene.height],
            "geomap:bands": scene.bands, "geomap:dtype": scene.dtype,
        },
    )
    item.properties = {k: v for k, v in item.properties.items() if v is not None}
    item.add_asset("original", pystac.Asset(
        href=f"./{scene.id}/original.tif", media_type=pystac.MediaType.GEOTIFF,
        roles=["data", "evidence"], title="Evidentiary copy (read-only; SHA-256 in properties)"))
    item.add_asset("cog", pystac.Asset(
        href=f"./{scene.id}/cog.tif", media_type=pystac.MediaType.COG, roles=["data", "visual"],
        title="Cloud-Optimized working copy"))
    return item


def write_catalogue(scenes: list[Scene], out_dir: Path) -> pystac.Catalog:
    """A self-contained static catalogue in `out_dir` (catalog.json + one item per scene)."""
    cat = pystac.Catalog(id="geomap-imagery", description="Imagery scenes held by geomap")
    for s in scenes:
        cat.add_item(scene_item(s))
    cat.normalize_hrefs(str(out_dir))
    cat.validate_all()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return cat
