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
import logging
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import shapely
from rasterio.errors import RasterioIOError
from rasterio.features import shapes
from rasterio.warp import transform_geom
from shapely.geometry import shape

from .errors import Conflict, GeomapError, InvalidInput, NotFound
from .messages import N_, Message
from .model import Tier
from .paths import check_local_path

if TYPE_CHECKING:
    from .config import Settings
    from .store.protocol import StoreLike

log = logging.getLogger(__name__)

GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none",
            "GDAL_HTTP_MAX_RETRY": "0"}
MAX_PIXELS_DEFAULT = 40_000 * 40_000 * 4  # samples (width x height x bands)
MAX_BANDS_DEFAULT = 16  # satellite products have up to ~13 (Sentinel-2); 24,065 is an attack
# Declared uncompressed bytes per file byte. Measured on 2048 x 2048 GeoTIFFs of textured
# content: 1.3-3.9x with no nodata, 15-39x (JPEG 131x) with 90% nodata, 80-291x with 99% nodata
# (DEFLATE, LZW, ZSTD, JPEG; predictor or not). A sparse file declaring 30,000 x 30,000 x 3 in
# 29 KB is 93,000x. Only sizes above EXPANSION_FLOOR_BYTES are checked (small ones are quick).
MAX_EXPANSION_DEFAULT = 1_000
EXPANSION_FLOOR_BYTES = 256 << 20
CONVERT_S_DEFAULT = 120  # seconds one ingest may spend on pixels before its child is killed

# Working-copy encodings of an 8-bit RGB scene (rio-cogeo profiles, 512 px blocks). JPEG at
# GDAL's quality 75 was the default; it changes 1-pixel fence lines' colour, so the default is
# now lossless (bench/working_copy.py measures the candidates: size, tile time, pixels).
WORKING_COPIES: dict[str, dict] = {
    "jpeg": {"compress": "JPEG", "photometric": "YCbCr", "quality": 75},
    "deflate": {"compress": "DEFLATE", "predictor": 2},
    "zstd": {"compress": "ZSTD", "predictor": 2},
    "webp": {"compress": "WEBP", "webp_lossless": True},
}
# What a person chooses (`geomap imagery add --working-copy`, the upload form) and the encoding
# it means. Lossless is DEFLATE with the predictor: on a 4,096 x 4,096 textured, noisy scene it
# is as small and as fast to tile as ZSTD (39 MB, 27 ms a PNG tile), and every GIS reads it;
# lossless WebP is 15 % smaller but converts 15x slower (20 s against 1.3 s; a 16k scene would
# pass the conversion time limit). JPEG is 24x smaller and changes nearly every pixel.
WORKING_COPY_CHOICES: dict[str, str] = {"lossless": "deflate", "jpeg": "jpeg"}
WORKING_COPY_DEFAULT = "lossless"


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
    maxzoom: int | None = None  # set by pages that checked the COG opens (not stored)
    # set by ingest (recorded in the imagery.add audit entry) or read from the COG (not stored)
    working_copy: str | None = None  # a key of WORKING_COPY_CHOICES
    working_sha256: str | None = None

    def label(self) -> str:
        return f"{self.acquired.isoformat()} {self.sensor or ''}".strip()


def imagery_root(settings: Settings) -> Path:
    """Where an instance keeps its scenes, one folder per scene id."""
    return settings.instance_path / "imagery"


def scene_dir(root: Path, scene_id: str) -> Path:
    if not (len(scene_id) == 32 and all(c in "0123456789abcdef" for c in scene_id)):
        raise NotFound(f"no scene {scene_id!r}")
    return root / scene_id


@dataclass(frozen=True)
class Limits:
    """What one ingest may cost. The header's declared size is checked before a pixel is read;
    the work on pixels runs in a child process that is killed when `convert_s` runs out."""

    max_samples: int = MAX_PIXELS_DEFAULT
    max_bands: int = MAX_BANDS_DEFAULT
    # declared uncompressed bytes / file bytes; None = no limit (an administrator's choice)
    max_expansion: float | None = MAX_EXPANSION_DEFAULT
    convert_s: float = CONVERT_S_DEFAULT

    @classmethod
    def from_settings(cls, settings, **overrides) -> Limits:
        values = {"max_bands": settings.imagery_max_bands,
                  "max_expansion": settings.imagery_max_expansion or None,
                  "convert_s": settings.imagery_convert_s}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


_PROJ_FAILURE = re.compile(r"coordinate operation|projection domain|units factor|"
                           r"transform|PROJ", re.IGNORECASE)
_PATHLIKE = re.compile(r"""(?<![\w.:/])/(?:[^\s'"():,;/]+/)*[^\s'"():,;/]+""")


def display_name(raw: str | None) -> str:
    """A client's file name made safe to show: its last part, no control characters, short.
    It is only ever shown (escaped) and recorded; files are stored under server-made names."""
    import unicodedata

    base = re.split(r"[/\\]", raw or "")[-1]
    base = "".join(c for c in base if not unicodedata.category(c).startswith("C")).strip()
    return base[:200]


def _scrub(message: str, name: str, paths=()) -> str:
    """`message` with every path (ours: the upload's temporary file, the scene folder) replaced by
    the user's file name, so no server path reaches a person; one line."""
    for p in sorted({str(x) for x in paths}, key=len, reverse=True):
        if p and p not in (".", "/"):
            message = message.replace(p, name)
    message = _PATHLIKE.sub(name, message)
    for p in paths:
        if (base := Path(p).name) and base != name and len(base) > 3:
            message = message.replace(base, name)
    return " ".join(message.split())[:500]


def _scrub_error(e: InvalidInput, name: str, paths=()) -> str | Message:
    """An error's message with paths scrubbed (_scrub): its parameters when it is a Message
    (the template is ours and holds no path), its text otherwise."""
    def scrub(m: Message) -> Message:
        params = {}
        for k, v in m.params.items():
            if isinstance(v, Message):
                v = scrub(v)
            elif isinstance(v, str):
                v = _scrub(v, name, paths)
            elif isinstance(v, dict):
                v = {lang: _scrub(str(t), name, paths) for lang, t in v.items()}
            params[k] = v
        return Message(m.template, **params)

    return scrub(e.msg) if getattr(e, "msg", None) is not None else _scrub(str(e), name, paths)


def inspect(path: Path, max_samples: int | Limits = MAX_PIXELS_DEFAULT,
            name: str | None = None) -> dict:
    """Open as GeoTIFF only and check what the header declares, before reading any pixel."""
    import warnings

    limits = max_samples if isinstance(max_samples, Limits) else Limits(max_samples=max_samples)
    name = name or path.name
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        # a file with no georeferencing is refused below with a clear message
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            src = rasterio.open(path, driver="GTiff")
        except RasterioIOError as e:
            raise InvalidInput(Message(N_("%(name)s: not a readable GeoTIFF (%(error)s)"),
                                       name=name, error=_scrub(str(e), name, [path]))) from None
        with src:
            if src.count > limits.max_bands:
                raise InvalidInput(Message(N_(
                    "%(name)s: declares %(bands)s bands, more than the limit of %(max)s "
                    "(satellite images have a few)"), name=name, bands=f"{src.count:,}",
                    max=limits.max_bands))
            samples = src.width * src.height * src.count
            if samples > limits.max_samples:
                raise InvalidInput(Message(N_(
                    "%(name)s: declares %(width)s x %(height)s pixels x %(bands)s bands, more "
                    "than the limit of %(max)s samples"), name=name, width=f"{src.width:,}",
                    height=f"{src.height:,}", bands=src.count, max=f"{limits.max_samples:,}"))
            try:
                itemsize = np.dtype(src.dtypes[0]).itemsize
            except TypeError:
                raise InvalidInput(Message(N_("%(name)s: pixel type %(dtype)s is not supported"),
                                           name=name, dtype=str(src.dtypes[0]))) from None
            declared = samples * itemsize
            size = max(1, path.stat().st_size)
            if (limits.max_expansion is not None and declared > EXPANSION_FLOOR_BYTES
                    and declared > limits.max_expansion * size):
                raise InvalidInput(Message(N_(
                    "%(name)s: a file of %(size)s bytes declares %(width)s x %(height)s pixels "
                    "x %(bands)s bands (%(declared)s bytes uncompressed, %(ratio)s times its "
                    "size; the limit is %(max)s times): it is damaged or made to exhaust the "
                    "server. An administrator can allow it on the command line (geomap imagery "
                    "add --max-expansion)"), name=name, size=f"{size:,}",
                    width=f"{src.width:,}", height=f"{src.height:,}", bands=src.count,
                    declared=f"{declared:,}", ratio=f"{declared / size:,.0f}",
                    max=f"{limits.max_expansion:,.0f}"))
            if src.crs is None or src.transform == rasterio.Affine.identity():
                raise InvalidInput(Message(N_(
                    "%(name)s: has no georeferencing (no CRS or transform): geomap cannot place "
                    "it on the map"), name=name))
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
            raise InvalidInput(Message(N_("the image holds no valid pixel")))
        poly = shapely.union_all(geoms).simplify(abs(tr.a) / 2)
        out = shape(transform_geom(src.crs, "EPSG:4326", poly.__geo_interface__,
                                   antimeridian_cutting=True, precision=7))
    out = out if out.is_valid else shapely.make_valid(out)
    coords = shapely.get_coordinates(out)
    if (out.is_empty or not np.isfinite(coords).all() or np.abs(coords[:, 0]).max() > 180
            or np.abs(coords[:, 1]).max() > 90):
        # e.g. a point outside the projection's domain: PROJ gives inf or nonsense
        raise InvalidInput(Message(N_(
            "its footprint cannot be placed on the earth (the coordinates fall outside what its "
            "projection can express)")))
    return out


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


def _input_errors() -> tuple[type[BaseException], ...]:
    """What a damaged or hostile file makes GDAL, PROJ, rio-cogeo, numpy or shapely raise."""
    from pyproj.exceptions import ProjError
    from rasterio._err import CPLE_BaseError
    from rio_cogeo.errors import RioCogeoError
    from shapely.errors import ShapelyError

    return (rasterio.errors.RasterioError, CPLE_BaseError, ProjError, RioCogeoError,
            ShapelyError, ValueError, ArithmeticError, IndexError, KeyError, TypeError,
            MemoryError, AttributeError)


def _describe(src: str, target: str, name: str, limits: Limits, progress: bool,
              working_copy: str = WORKING_COPY_DEFAULT) -> dict:
    """Everything that reads the upload's pixels: check the header, copy and hash the original,
    make and validate the COG, compute footprint and display range. Runs in a child process."""
    import sys
    import warnings

    from rio_cogeo.cogeo import cog_translate, cog_validate

    src_path, target_dir = Path(src), Path(target)
    info = inspect(src_path, limits, name)
    # 8-bit RGB: an internal mask carries nodata (JPEG cannot hold it; kept for lossless too)
    rgb8 = info["dtype"] == "uint8" and info["count"] == 3
    if working_copy == "jpeg" and not rgb8:
        raise InvalidInput(Message(N_(
            "%(name)s: a JPEG working copy needs an 8-bit RGB image; this one has %(bands)s "
            "band(s) of %(dtype)s (choose the lossless working copy)"), name=name,
            bands=info["count"], dtype=info["dtype"]))
    kind = WORKING_COPY_CHOICES[working_copy]
    profile = working_copy_profile(kind)
    if not np.issubdtype(np.dtype(info["dtype"]), np.integer):
        profile.pop("predictor", None)  # horizontal differencing is for integers
    original = target_dir / "original.tif"
    h = hashlib.sha256()
    with src_path.open("rb") as fin, original.open("wb") as fout:
        while chunk := fin.read(1 << 20):
            h.update(chunk)
            fout.write(chunk)
    os.chmod(original, 0o444)
    cog = target_dir / "cog.tif"
    with rasterio.Env(**GDAL_ENV, CPL_TMPDIR=str(target_dir)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(original, driver="GTiff") as ds:
            cog_translate(
                ds, cog, profile, add_mask=rgb8,
                overview_resampling="average", quiet=not progress,
                progress_out=sys.stderr if progress else None,
                nodata=None if rgb8 else info["nodata"],
            )
        valid, errors, _warnings = cog_validate(cog, quiet=True)
        if not valid:
            raise InvalidInput(f"{name}: the working copy is not a valid COG: {errors}")
        footprint = _footprint(cog)
        rescale = _rescale(cog, info["dtype"])
        res_m = round(_res_m(info["crs"], info["transform"], info["bounds"]), 3)
        crs = info["crs"].to_string()
    if not (math.isfinite(res_m) and res_m > 0):
        raise InvalidInput(Message(N_("its pixel size cannot be computed")))
    if rescale is not None and not np.isfinite(np.asarray(rescale, dtype=float)).all():
        rescale = None
    return {"sha256": h.hexdigest(), "size_bytes": original.stat().st_size, "crs": crs,
            "res_m": res_m, "width": info["width"], "height": info["height"],
            "bands": info["count"], "dtype": info["dtype"], "rescale": rescale,
            "footprint": shapely.to_wkb(footprint), "working_copy": working_copy,
            "working_sha256": sha256_file(cog)}


def _describe_guarded(src: str, target: str, name: str, limits: Limits, progress: bool,
                      working_copy: str = WORKING_COPY_DEFAULT) -> tuple[str, object]:
    """`_describe` with every failure the file can cause turned into ("invalid", message)."""
    import traceback

    try:
        return "ok", _describe(src, target, name, limits, progress, working_copy)
    except InvalidInput as e:
        # plain data through the pipe: a message as its template and parameters
        if e.msg is not None:
            m = e.msg if e.msg.template.startswith("%(name)s:") else Message(
                N_("%(name)s: %(problem)s"), name=name, problem=e.msg)
            return "invalid", m.as_dict()
        msg = str(e)
        return "invalid", msg if msg.startswith(f"{name}:") else f"{name}: {msg}"
    except _input_errors() as e:
        log.info("imagery: %s refused:\n%s", name, traceback.format_exc())
        what = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        what = what.split(" from '{")[0]  # PROJ follows with a page of PROJJSON
        if _PROJ_FAILURE.search(what) or type(e).__name__ in ("CRSError", "ProjError"):
            return "invalid", Message(N_(
                "%(name)s: its coordinate reference system or coordinates cannot be converted "
                "to longitude and latitude (%(error)s)"), name=name, error=what).as_dict()
        return "invalid", Message(N_(
            "%(name)s: damaged or truncated image, or a kind geomap cannot read (%(error)s)"),
            name=name, error=what).as_dict()
    except Exception as e:  # a fault of ours or of the server (disk full...), not of the file
        return "error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"


def _child_main(conn, args) -> None:
    try:
        conn.send(_describe_guarded(*args))
    finally:
        conn.close()


_mp_context = None


def _context():
    """A fork server: children start from a clean, single-threaded process with GDAL loaded
    (a plain fork from a threaded web server can inherit a held lock)."""
    global _mp_context
    if _mp_context is None:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["geomap.imagery", "rio_cogeo.cogeo"])
        _mp_context = ctx
    return _mp_context


def _run_bounded(args: tuple, seconds: float, name: str) -> dict:
    """Run `_describe` in a child process; kill it after `seconds`. Only plain data comes back."""
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send, args), daemon=True)
    proc.start()
    send.close()
    try:
        if receive.poll(seconds):
            try:
                status, payload = receive.recv()
            except EOFError:
                status, payload = "died", None
        else:
            status, payload = "timeout", None
    finally:
        receive.close()
        if status == "timeout" or proc.is_alive():
            proc.join(1 if status != "timeout" else 0)
            if proc.is_alive():
                proc.kill()
        proc.join()
    if status == "ok":
        return payload
    if status == "invalid":
        raise InvalidInput(Message.from_dict(payload) if isinstance(payload, dict) else payload)
    if status == "timeout":
        raise InvalidInput(Message(N_(
            "%(name)s: converting it took longer than the limit of %(seconds)s s (an "
            "administrator can add large images on the command line with geomap imagery add "
            "--time-limit)"), name=name, seconds=f"{seconds:g}"))
    if status == "died" and (proc.exitcode or 0) < 0:
        # killed by a signal while reading the file (GDAL crashed on it): the file's doing
        log.warning("imagery: converting %s stopped the converter (signal %s)", name,
                    -proc.exitcode)
        raise InvalidInput(Message(N_(
            "%(name)s: damaged or truncated image (the converter stopped while reading it)"),
            name=name))
    # the child could not run (a program without a `__main__` guard, no memory to start...)
    raise RuntimeError(f"ingest of {name} failed in its child process "
                       f"(exit code {proc.exitcode}): {payload}")


def ingest(
    path: str | Path, root: Path, acquired: date, actor: str, sensor: str | None = None,
    provider: str | None = None, licence: str | None = None, tier: Tier = Tier.INTERNAL,
    max_samples: int = MAX_PIXELS_DEFAULT, original_name: str | None = None,
    progress_out=None, limits: Limits | None = None,
    working_copy: str = WORKING_COPY_DEFAULT,
) -> Scene:
    """Validate, copy (read-only, hashed), convert to COG, describe. Nothing is kept on error.

    `working_copy` is "lossless" (the default: tiles show the original's pixels) or "jpeg"
    (8-bit RGB only; about 20x smaller, but every pixel changes a little and thin lines more).
    `original_name` is the name the person knows the file by (an upload's own name, not the
    server's temporary file): every message names it and no server path. `limits` bounds the
    declared size and the time spent (`max_samples` is kept for callers that set only that).
    `progress_out` (any true value) shows the conversion's progress bar on stderr."""
    limits = limits or Limits(max_samples=max_samples)
    name = display_name(original_name) if original_name else Path(str(path)).name
    if working_copy not in WORKING_COPY_CHOICES:
        raise InvalidInput(Message(N_("working copy: one of %(choices)s"),
                                   choices=", ".join(WORKING_COPY_CHOICES)),
                           field="working_copy")
    try:
        src_path = check_local_path(path)
    except InvalidInput as e:
        raise InvalidInput(_scrub_error(e, name, [path]) if original_name else e.msg or str(e)
                           ) from None
    src_path = src_path.resolve()
    scene_id = uuid.uuid4().hex
    target = root / scene_id
    target.mkdir(parents=True, mode=0o700)
    try:
        try:
            d = _run_bounded((str(src_path), str(target), name, limits,
                              progress_out is not None, working_copy), limits.convert_s, name)
        except InvalidInput as e:
            ours = [src_path, src_path.parent, target / "original.tif", target / "cog.tif",
                    target, root]
            raise InvalidInput(_scrub_error(e, name, ours)) from None
        scene = Scene(
            id=scene_id, acquired=acquired, sensor=sensor, provider=provider, licence=licence,
            original_name=name, sha256=d["sha256"],
            size_bytes=d["size_bytes"], crs=d["crs"], res_m=d["res_m"], width=d["width"],
            height=d["height"], bands=d["bands"], dtype=d["dtype"], rescale=d["rescale"],
            footprint=shapely.from_wkb(d["footprint"]), tier=str(tier),
            working_copy=d["working_copy"], working_sha256=d["working_sha256"])
        return scene
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # nothing half-written stays behind
        raise


def catalogue(store: StoreLike, scene: Scene, root: Path, actor: str) -> Scene:
    """Add an ingested scene to the catalogue. The same file (SHA-256) catalogued already is a
    Conflict naming that scene, and the new copies are removed. `geomap imagery add` and the
    imagery upload page both end here."""
    from .store.scenes import SceneStore

    scenes = SceneStore(store)
    if (existing := scenes.by_sha(scene.sha256)) is not None:
        shutil.rmtree(root / scene.id, ignore_errors=True)
        raise Conflict(Message(N_("This file is already scene %(id)s."), id=existing),
                       field="file")
    scenes.add(scene, actor=actor)
    return scene


class UnreadableScene(GeomapError):
    """A catalogued scene whose working copy (COG) is missing or cannot be read."""


@dataclass(frozen=True)
class WorkingCopy:
    """What opening a scene's COG tells: its web zooms and how its pixels are encoded."""

    minzoom: int
    maxzoom: int
    compression: str  # GDAL's name, upper case: DEFLATE, JPEG, ZSTD, WEBP, NONE

    @property
    def choice(self) -> str:
        """"jpeg" or "lossless" (a key of WORKING_COPY_CHOICES). Scenes added before the
        lossless default have JPEG working copies; geomap makes no lossy WebP."""
        return "jpeg" if self.compression == "JPEG" else "lossless"


def working_copy_info(root: Path, scene_id: str) -> WorkingCopy:
    """Open the scene's COG (which proves it can be read) and describe it. Raises
    UnreadableScene (callers listing scenes skip it and log, never fail)."""
    from rio_tiler.io import Reader

    path = scene_dir(root, scene_id) / "cog.tif"
    if not path.is_file():
        raise UnreadableScene(f"scene {scene_id}: working copy missing")
    try:
        with rasterio.Env(**GDAL_ENV), Reader(str(path)) as src:
            comp = src.dataset.compression
            return WorkingCopy(int(src.minzoom), int(src.maxzoom),
                               comp.name.upper() if comp is not None else "NONE")
    except (*_input_errors(), OSError) as e:
        raise UnreadableScene(f"scene {scene_id}: working copy unreadable ({e})") from None


def cog_maxzoom(root: Path, scene_id: str) -> int:
    """The web zoom at which the scene's COG is at full resolution (working_copy_info)."""
    return working_copy_info(root, scene_id).maxzoom


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


def working_copy_profile(kind: str) -> dict:
    """The rio-cogeo creation profile of working copy `kind` (a key of WORKING_COPIES)."""
    try:
        extra = WORKING_COPIES[kind]
    except KeyError:
        raise InvalidInput(Message(N_("working copy: one of %(choices)s"),
                                   choices=", ".join(WORKING_COPIES)),
                           field="working_copy") from None
    return {"driver": "GTiff", "interleave": "pixel", "tiled": True, "blockxsize": 512,
            "blockysize": 512, **extra}
