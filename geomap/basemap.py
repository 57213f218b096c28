"""The offline basemap: the shipped Natural Earth relief as a Cloud-Optimized GeoTIFF in the
instance folder, served as tiles by the same rio-tiler endpoint as imagery (rio-tiler does the
reprojection to Web Mercator per tile)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from .config import DATA_DIR

SOURCE_PNG = DATA_DIR / "basemap" / "korea_shadedrelief_ne.png"
ATTRIBUTION = "Relief: Natural Earth (public domain)"


@dataclass(frozen=True)
class Basemap:
    path: Path
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east))
    maxzoom: int


def _world_file_transform(png: Path) -> Affine:
    a, d, b, e, c, f = (float(x) for x in png.with_suffix(".pgw").read_text().split())
    # world files give the centre of the top-left pixel; rasterio wants its corner
    return Affine(a, b, c - a / 2 - b / 2, d, e, f - d / 2 - e / 2)


def ensure_basemap(out_dir: Path, source: Path = SOURCE_PNG) -> Basemap:
    """Make the basemap COG once (from the PNG and its world file) and describe it."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles
    from rio_tiler.io import Reader

    cog, meta = out_dir / "relief-cog.tif", out_dir / "relief-cog.json"
    if cog.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return Basemap(cog, (tuple(m["bounds"][0]), tuple(m["bounds"][1])), m["maxzoom"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with rasterio.open(source, driver="PNG") as png:
        data = png.read()
        profile = {"driver": "GTiff", "width": png.width, "height": png.height,
                   "count": png.count, "dtype": png.dtypes[0], "crs": CRS.from_epsg(4326),
                   "transform": _world_file_transform(source)}
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(data)
        with mem.open() as src:
            cog_translate(src, cog, cog_profiles.get("deflate"), quiet=True,
                          overview_resampling="average")
    with Reader(str(cog)) as r:
        w, s, e, n = r.get_geographic_bounds(r.crs)
        maxzoom = r.maxzoom
    bounds = ((round(s, 6), round(w, 6)), (round(n, 6), round(e, 6)))
    meta.write_text(json.dumps({"bounds": bounds, "maxzoom": maxzoom}))
    return Basemap(cog, bounds, maxzoom)
