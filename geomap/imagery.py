"""Satellite imagery: safe ingest, an evidentiary catalogue, and tiles.

Untrusted files are opened only as GeoTIFF (a VRT or anything else renamed .tif is refused by
the driver), with GDAL told not to list directories, and their declared size is checked before
a pixel is read. Each upload gets a directory named by a server-made id; the original is copied
there read-only with its SHA-256 (the evidentiary copy) and a validated Cloud-Optimized GeoTIFF
is made beside it (rio-cogeo) for tiles (rio-tiler). Clients only ever name a scene by id.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.errors import RasterioIOError
from rasterio.features import shapes
from rasterio.warp import transform_geom
from shapely.geometry import shape

from .errors import InvalidInput, NotFound
from .model import Tier
from .paths import check_local_path

GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none",
            "GDAL_HTTP_MAX_RETRY": "0"}
MAX_PIXELS_DEFAULT = 40_000 * 40_000 * 4  # samples (width x height x bands)


@dataclass
class Scene:
    id: str
    acquired: date
    sensor: str | None
    provider: str | None
    licence: str | None
    original_name: str
    sha256: str
    size_bytes: int
    crs: str
    res_m: float
    width: int
    height: int
    bands: int
    dtype: str
    rescale: list | None
    footprint: shapely.Geometry
    tier: str = "internal"

    def label(self) -> str:
        return f"{self.acquired.isoformat()} {self.sensor or ''}".strip()


def scene_dir(root: Path, scene_id: str) -> Path:
    if not (len(scene_id) == 32 and all(c in "0123456789abcdef" for c in scene_id)):
        raise NotFound(f"no scene {scene_id!r}")
    return root / scene_id


def inspect(path: Path, max_samples: int = MAX_PIXELS_DEFAULT) -> dict:
    """Open as GeoTIFF only and check what the header declares, before reading any pixel."""
    import warnings

    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        # a file with no georeferencing is refused below with a clear message
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            src = rasterio.open(path, driver="GTiff")
        except RasterioIOError as e:
            raise InvalidInput(f"{path.name}: not a readable GeoTIFF ({e})") from None
        with src:
            samples = src.width * src.height * src.count
            if samples > max_samples:
                raise InvalidInput(
                    f"{path.name}: declares {src.width:,} x {src.height:,} pixels x {src.count} "
                    f"bands, more than the limit of {max_samples:,} samples")
            if src.crs is None or src.transform == rasterio.Affine.identity():
                raise InvalidInput(f"{path.name}: has no georeferencing (no CRS or transform): "
                                   "geomap cannot place it on the map")
            return {"width": src.width, "height": src.height, "count": src.count,
                    "dtype": src.dtypes[0], "crs": src.crs, "nodata": src.nodata,
                    "transform": src.transform, "bounds": src.bounds}


def _res_m(crs, transform, bounds) -> float:
    res = abs(transform.a)
    if crs.is_geographic:
        lat = (bounds.bottom + bounds.top) / 2
        return res * 111_320 * math.cos(math.radians(lat))
    return res * (crs.linear_units_factor[1] if crs.linear_units_factor else 1.0)


def _footprint(cog: Path) -> shapely.Geometry:
    """Where the data is (mask, not just the bounds), in WGS84."""
    with rasterio.open(cog) as src:
        factor = max(1, max(src.width, src.height) // 512)
        h, w = max(1, src.height // factor), max(1, src.width // factor)
        mask = src.dataset_mask(out_shape=(h, w))
        tr = src.transform @ rasterio.Affine.scale(src.width / w, src.height / h)
        geoms = [shape(g) for g, v in shapes((mask > 0).astype(np.uint8), transform=tr) if v]
        if not geoms:
            raise InvalidInput("the image holds no valid pixel")
        poly = shapely.union_all(geoms).simplify(abs(tr.a) / 2)
        out = shape(transform_geom(src.crs, "EPSG:4326", poly.__geo_interface__,
                                   antimeridian_cutting=True, precision=7))
    return out if out.is_valid else shapely.make_valid(out)


def _rescale(cog: Path, dtype: str) -> list | None:
    """Display range per band for data beyond 8 bits: the 2nd-98th percentile of an overview."""
    if dtype == "uint8":
        return None
    with rasterio.open(cog) as src:
        factor = max(1, max(src.width, src.height) // 1024)
        data = src.read(out_shape=(src.count, max(1, src.height // factor),
                                   max(1, src.width // factor)), masked=True)
    out = []
    for band in data:
        v = band.compressed()
        lo, hi = (np.percentile(v, [2, 98]).tolist() if v.size else [0.0, 1.0])
        if hi - lo < 1:  # a flat band: show it against zero rather than as black
            lo, hi = 0.0, max(hi, 1.0)
        out.append([float(lo), float(hi)])
    return out


def ingest(
    path: str | Path, root: Path, acquired: date, actor: str, sensor: str | None = None,
    provider: str | None = None, licence: str | None = None, tier: Tier = Tier.INTERNAL,
    max_samples: int = MAX_PIXELS_DEFAULT, original_name: str | None = None,
    progress_out=None,
) -> Scene:
    """Validate, copy (read-only, hashed), convert to COG, describe. Nothing is kept on error.
    `progress_out` (a text stream) shows the conversion's progress bar."""
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    src_path = check_local_path(path)
    info = inspect(src_path, max_samples)
    scene_id = uuid.uuid4().hex
    target = root / scene_id
    target.mkdir(parents=True, mode=0o700)
    try:
        original = target / "original.tif"
        h = hashlib.sha256()
        with src_path.open("rb") as fin, original.open("wb") as fout:
            while chunk := fin.read(1 << 20):
                h.update(chunk)
                fout.write(chunk)
        os.chmod(original, 0o444)
        lossy = info["dtype"] == "uint8" and info["count"] in (1, 3)
        profile = cog_profiles.get("jpeg" if lossy and info["count"] == 3 else "deflate").copy()
        profile["blockxsize"] = profile["blockysize"] = 512
        cog = target / "cog.tif"
        with rasterio.Env(**GDAL_ENV):
            try:
                with rasterio.open(original, driver="GTiff") as src:
                    cog_translate(
                        src, cog, profile, add_mask=lossy and info["count"] == 3,
                        overview_resampling="average", quiet=progress_out is None,
                        progress_out=progress_out,
                        nodata=None if lossy and info["count"] == 3 else info["nodata"],
                    )
            except (RasterioIOError, rasterio.errors.RasterioError, ValueError) as e:
                raise InvalidInput(f"{src_path.name}: damaged or truncated image ({e})") from None
        valid, errors, _warnings = cog_validate(cog, quiet=True)
        if not valid:
            raise InvalidInput(f"{src_path.name}: the working copy is not a valid COG: {errors}")
        footprint = _footprint(cog)
        scene = Scene(
            id=scene_id, acquired=acquired, sensor=sensor, provider=provider, licence=licence,
            original_name=original_name or src_path.name, sha256=h.hexdigest(),
            size_bytes=original.stat().st_size, crs=info["crs"].to_string(),
            res_m=round(_res_m(info["crs"], info["transform"], info["bounds"]), 3),
            width=info["width"], height=info["height"], bands=info["count"],
            dtype=info["dtype"], rescale=_rescale(cog, info["dtype"]), footprint=footprint,
            tier=str(tier))
        return scene
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # nothing half-written stays behind
        raise


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def scene_row(s: Scene, actor: str) -> dict:
    from .store import geom_columns

    g = geom_columns(s.footprint, "footprint")
    return {"id": s.id, "acquired": s.acquired, "sensor": s.sensor, "provider": s.provider,
            "licence": s.licence, "original_name": s.original_name, "sha256": s.sha256,
            "size_bytes": s.size_bytes, "crs": s.crs, "res_m": s.res_m, "width": s.width,
            "height": s.height, "bands": s.bands, "dtype": s.dtype,
            "rescale": json.dumps(s.rescale) if s.rescale else None, "tier": s.tier,
            "created_at": datetime.now(UTC).replace(tzinfo=None), "created_by": actor, **g}


def scene_from_row(r) -> Scene:
    return Scene(id=r.id, acquired=r.acquired, sensor=r.sensor, provider=r.provider,
                 licence=r.licence, original_name=r.original_name, sha256=r.sha256,
                 size_bytes=r.size_bytes, crs=r.crs, res_m=r.res_m, width=r.width,
                 height=r.height, bands=r.bands, dtype=r.dtype,
                 rescale=json.loads(r.rescale) if r.rescale else None,
                 footprint=shapely.from_wkb(r.footprint), tier=r.tier)
