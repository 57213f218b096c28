"""STAC Items for imagery scenes, and a static catalogue (core STAC only, so it validates
offline against the schemas pystac ships).

A catalogue is a publication: the CLI writes public-tier scenes unless told otherwise. Asset
hrefs are relative to the item that names them and point at the files where they are (the
instance's imagery folder), or at copies inside the catalogue with `copy_assets`."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import UTC, datetime, time
from pathlib import Path

import pystac

from .errors import InvalidInput
from .imagery import Scene

CATALOGUE_ID = "geomap-imagery"
LICENCE_FILE = "license.txt"
_STAC_LICENSE = re.compile(r"^[\w\-.+]+$")  # what the STAC schema accepts in `license`


def spdx_licence(text: str | None) -> str | None:
    """`text` as one SPDX licence id (canonical case), or None when it is not one (a licence
    written out, a contract reference...): STAC then wants "other" and a link to the text."""
    if not text or not _STAC_LICENSE.match(text.strip()):
        return None
    try:
        from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
    except ImportError:  # an older packaging: accept what the STAC pattern accepts
        return text.strip()
    try:
        out = canonicalize_license_expression(text.strip())
    except InvalidLicenseExpression:
        return None
    return out if _STAC_LICENSE.match(out) else None


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
            "license": spdx_licence(scene.licence) or "other",
            "geomap:original_name": scene.original_name, "geomap:sha256": scene.sha256,
            "geomap:crs": scene.crs, "geomap:size": [scene.width, scene.height],
            "geomap:bands": scene.bands, "geomap:dtype": scene.dtype,
        },
    )
    if scene.licence and item.properties["license"] == "other":
        # STAC: a licence not on the SPDX list is "other" with a link to its text
        item.properties["geomap:licence_text"] = scene.licence
        item.add_link(pystac.Link(rel="license", target=f"./{LICENCE_FILE}",
                                  media_type="text/plain", title=scene.licence[:200]))
    item.properties = {k: v for k, v in item.properties.items() if v is not None}
    item.add_asset("original", pystac.Asset(
        href="./original.tif", media_type=pystac.MediaType.GEOTIFF,
        roles=["data", "evidence"], title="Evidentiary copy (read-only; SHA-256 in properties)"))
    item.add_asset("cog", pystac.Asset(
        href="./cog.tif", media_type=pystac.MediaType.COG, roles=["data", "visual"],
        title="Cloud-Optimized working copy"))
    return item


def write_catalogue(scenes: list[Scene], out_dir: Path, imagery_root: Path | None = None,
                    copy_assets: bool = False) -> pystac.Catalog:
    """A static catalogue in `out_dir` (catalog.json + one folder per scene), usable where it
    is written: every asset href resolves to its file. Asset hrefs point into `imagery_root`
    (relative to the item), or, with `copy_assets`, at copies in the item's folder (a catalogue
    that can be moved). Any earlier catalogue in `out_dir` is replaced as a whole, so a scene
    left out this time does not linger; a folder holding anything else is refused."""
    out_dir = Path(out_dir).resolve()
    if imagery_root is None and not copy_assets:
        raise ValueError("imagery_root is needed unless the assets are copied")
    if out_dir.exists() and any(out_dir.iterdir()) and not _is_our_catalogue(out_dir):
        raise InvalidInput(f"{out_dir}: not empty and not a geomap imagery catalogue; "
                           "choose a new folder")
    # build beside the destination (same depth: relative hrefs stay right), then swap in
    work = out_dir.parent / f".geomap-stac-{uuid.uuid4().hex[:8]}-building"
    work.mkdir(parents=True)
    try:
        cat = pystac.Catalog(id=CATALOGUE_ID, description="Imagery scenes held by geomap")
        items = [scene_item(s) for s in scenes]
        for it in items:
            cat.add_item(it)
        cat.normalize_hrefs(str(work) + os.sep)  # a folder, whatever its name
        for s, it in zip(scenes, items, strict=True):
            item_dir = Path(it.get_self_href()).parent
            item_dir.mkdir(parents=True, exist_ok=True)
            for key, fname in (("original", "original.tif"), ("cog", "cog.tif")):
                if copy_assets:
                    shutil.copyfile(Path(imagery_root) / s.id / fname, item_dir / fname)
                    href = f"./{fname}"
                else:
                    real = Path(imagery_root).resolve() / s.id / fname
                    # relative to where the item will be (same depth as the work folder)
                    href = os.path.relpath(real, out_dir / item_dir.name)
                it.assets[key].href = href
            if s.licence and it.properties.get("license") == "other":
                (item_dir / LICENCE_FILE).write_text(s.licence + "\n", encoding="utf-8")
        cat.validate_all()
        cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".geomap-stac-{uuid.uuid4().hex[:8]}-old"
            out_dir.rename(old)
        work.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return pystac.Catalog.from_file(str(out_dir / "catalog.json"))


def _is_our_catalogue(d: Path) -> bool:
    import json

    try:
        return json.loads((d / "catalog.json").read_text())["id"] == CATALOGUE_ID
    except (OSError, ValueError, KeyError, TypeError):
        return False
