"""The offline basemap: the shipped Natural Earth relief, reprojected once to Web Mercator.

Leaflet's ImageOverlay stretches an image linearly between its corners in the map's projection,
so an EPSG:4326 picture drawn on a Web Mercator map would be misplaced by kilometres; we warp it
to EPSG:3857 and hand Leaflet the lat/lon of the warped corners.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine, array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject

from .config import DATA_DIR

SOURCE_PNG = DATA_DIR / "basemap" / "korea_shadedrelief_ne.png"
ATTRIBUTION = "Relief: Natural Earth (public domain)"


@dataclass(frozen=True)
class Basemap:
    path: Path
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east))


def _world_file_transform(png: Path) -> Affine:
    a, d, b, e, c, f = (float(x) for x in png.with_suffix(".pgw").read_text().split())
    # world files give the centre of the top-left pixel; rasterio wants its corner
    return Affine(a, b, c - a / 2 - b / 2, d, e, f - d / 2 - e / 2)


def ensure_basemap(out_dir: Path, source: Path = SOURCE_PNG, scale: int = 3) -> Basemap:
    """Warp `source` to Web Mercator into `out_dir` (once) and return it with its bounds."""
    out_png, meta = out_dir / "relief-3857.png", out_dir / "relief-3857.json"
    if out_png.exists() and meta.exists():
        b = json.loads(meta.read_text())
        return Basemap(out_png, (tuple(b[0]), tuple(b[1])))
    out_dir.mkdir(parents=True, exist_ok=True)
    src_crs = CRS.from_epsg(4326)
    with rasterio.open(source) as src:
        data = src.read()
        src_t = _world_file_transform(source)
        h, w = data.shape[1:]
        dst_crs = CRS.from_epsg(3857)
        west, south, east, north = array_bounds(h, w, src_t)
        t, dw, dh = calculate_default_transform(src_crs, dst_crs, w, h, west, south, east, north)
        # upsample so bilinear resampling happens here once, not blockily in the browser
        t, dw, dh = t @ Affine.scale(1 / scale), dw * scale, dh * scale
        dst = np.zeros((data.shape[0], dh, dw), dtype=data.dtype)
        for band in range(data.shape[0]):
            reproject(data[band], dst[band], src_transform=src_t, src_crs=src_crs,
                      dst_transform=t, dst_crs=dst_crs, resampling=Resampling.bilinear)
    with warnings.catch_warnings():  # a plain PNG has no georeferencing by design
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        _write_png(out_png, dst)
    left, bottom, right, top = array_bounds(dh, dw, t)
    to_ll = Transformer.from_crs(3857, 4326, always_xy=True)
    west, south = to_ll.transform(left, bottom)
    east, north = to_ll.transform(right, top)
    bounds = ((round(south, 6), round(west, 6)), (round(north, 6), round(east, 6)))
    meta.write_text(json.dumps(bounds))
    for aux in out_dir.glob("relief-3857.png.aux.xml"):
        aux.unlink()
    return Basemap(out_png, bounds)


def _write_png(path: Path, data: np.ndarray) -> None:
    with rasterio.open(path, "w", driver="PNG", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype) as out:
        out.write(data)
