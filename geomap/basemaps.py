"""Offline basemap packages: raster MBTiles or PMTiles an administrator installs into the instance folder
(for example an OpenStreetMap extract of North Korea rendered elsewhere), served as tiles from
our own origin.

A package is copied into `<instance>/basemaps/<name>.mbtiles` (or `.pmtiles`) with a small JSON manifest beside
it (`<name>.json`: format, zoom range, bounds, attribution, hash). The copy is what gets
validated, so the file cannot change between the check and the install. Tiles are read through
a read-only, immutable SQLite connection to that copy; a client names a package, never a path.

PMTiles v3 archives (raster) are read too, with the `pmtiles` package (protomaps' own reader,
pure Python) for the header and tile ids; their directories are decompressed here with a size
limit, since a directory is gzip and a hostile one could expand without end.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import threading
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from .errors import InvalidInput, NotFound
from .store import mbtiles

SQLITE_MAGIC = b"SQLite format 3\x00"
PMTILES_MAGIC = b"PMTiles"
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024  # one decompressed PMTiles directory
MAX_METADATA_BYTES = 1024 * 1024
KINDS = ("mbtiles", "pmtiles")
MAX_PACKAGE_BYTES = 8 * 1024**3      # an OSM raster extract of North Korea to z16 is ~1-3 GB
MAX_TILE_BYTES = 2 * 1024 * 1024     # a 256/512 px raster tile is tens of KB
MAX_ZOOM = 22
MAX_ATTRIBUTION = 500
SAMPLE_TILES = 200                   # tiles whose bytes are checked at install, spread over zooms
MERCATOR_LAT = 85.051129
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# declared format -> (extension in URLs, content type)
FORMATS = {"png": ("png", "image/png"), "jpg": ("jpg", "image/jpeg"),
           "jpeg": ("jpg", "image/jpeg"), "webp": ("webp", "image/webp")}
VECTOR_FORMATS = {"pbf", "mvt", "application/x-protobuf", "application/vnd.mapbox-vector-tile"}


def sniff(data: bytes) -> str | None:
    """The raster format of a tile by its magic bytes: png, jpg, webp or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


class _Text(HTMLParser):
    """MBTiles attributions are often HTML (`&copy; <a href=...>OpenStreetMap</a>`): keep the
    words, drop the markup, so what shows on the map is text a link cannot hide in."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def attribution_text(raw: str) -> str:
    p = _Text()
    p.feed(raw)
    p.close()
    text = " ".join("".join(p.parts).split())
    return "".join(c for c in text if c.isprintable())[:MAX_ATTRIBUTION]


@dataclass(frozen=True)
class Package:
    name: str
    format: str            # png | jpg | webp
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]  # west, south, east, north
    attribution: str       # plain text (shown escaped)
    description: str
    sha256: str
    size: int
    tiles: int
    installed_at: str
    source: str            # the installed file's original name, for the record
    kind: str = "mbtiles"

    @property
    def ext(self) -> str:
        return FORMATS[self.format][0]

    @property
    def mimetype(self) -> str:
        return FORMATS[self.format][1]

    def leaflet_bounds(self) -> list[list[float]]:
        w, s, e, n = self.bounds
        return [[s, w], [n, e]]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["bounds"] = list(self.bounds)
        return d


def packages_dir(instance_path: Path) -> Path:
    return instance_path / "basemaps"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise InvalidInput(f"basemap name {name!r}: use 1-40 lower-case letters, digits, '-' "
                           "or '_', starting with a letter or digit", field="name")
    return name


def name_from_file(path: Path) -> str:
    stem = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_")[:40]
    return stem or "basemap"


_connect = mbtiles.connect  # read-only and immutable, whatever the file says


def _metadata(conn) -> dict[str, str]:
    try:
        rows = mbtiles.metadata_rows(conn)
    except mbtiles.DatabaseError as e:
        raise InvalidInput(f"not an MBTiles file: no readable metadata table ({e})") from None
    return {str(k): str(v) for k, v in rows if k is not None and v is not None}


def _zoom(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        z = int(float(value))
    except ValueError:
        raise InvalidInput(f"metadata {what}: {value!r} is not a zoom level") from None
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"metadata {what}: {z} is outside 0..{MAX_ZOOM}")
    return z


def _bounds(value: str | None, what: str = "metadata bounds") -> tuple[float, float, float, float]:
    if not value:
        return (-180.0, -MERCATOR_LAT, 180.0, MERCATOR_LAT)  # the spec's default: the world
    try:
        w, s, e, n = (float(v) for v in value.split(","))
    except ValueError:
        raise InvalidInput(f"{what}: {value!r} is not 'west,south,east,north'") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)) or not (
            -180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InvalidInput(f"{what}: {value!r} is not a box of longitudes -180..180 "
                           "and latitudes -90..90 (west < east, south < north)")
    return (w, max(s, -MERCATOR_LAT), e, min(n, MERCATOR_LAT))


def inspect(path: Path, name: str, source: str) -> Package:
    """Validate an MBTiles or PMTiles file and describe it; InvalidInput says what is wrong."""
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(PMTILES_MAGIC):
        return _inspect_pmtiles(path, name, source)
    if head != SQLITE_MAGIC:
        raise InvalidInput(f"{source}: neither an MBTiles file (not an SQLite database) nor a "
                           "PMTiles archive")
    return _inspect_mbtiles(path, name, source)


def _inspect_mbtiles(path: Path, name: str, source: str) -> Package:
    size = path.stat().st_size
    try:
        conn = _connect(path)
    except mbtiles.Error as e:
        raise InvalidInput(f"{source}: cannot open as SQLite: {e}") from None
    try:
        try:
            kinds = mbtiles.object_kinds(conn)
            ok = mbtiles.quick_check(conn)
        except mbtiles.DatabaseError as e:
            raise InvalidInput(f"{source}: damaged SQLite database ({e})") from None
        if ok != "ok":
            raise InvalidInput(f"{source}: damaged SQLite database ({ok})")
        if kinds.get("tiles") not in ("table", "view"):
            raise InvalidInput(f"{source}: not an MBTiles file (no 'tiles' table or view)")
        if kinds.get("metadata") not in ("table", "view"):
            raise InvalidInput(f"{source}: not an MBTiles file (no 'metadata' table)")
        meta = _metadata(conn)
        fmt = meta.get("format", "").strip().lower()
        if fmt in VECTOR_FORMATS:
            raise InvalidInput(f"{source}: holds vector tiles ({fmt}); a basemap package must "
                               "be raster (png, jpg or webp): render it to raster first")
        if fmt not in FORMATS:
            raise InvalidInput(f"{source}: metadata format {fmt or '(missing)'!r} is not one of "
                               "png, jpg, webp")
        fmt = "jpg" if fmt == "jpeg" else fmt
        try:
            zmin, zmax, count = mbtiles.zoom_range(conn)
        except mbtiles.DatabaseError as e:
            raise InvalidInput(f"{source}: the tiles table is not MBTiles' "
                               f"(zoom_level, tile_column, tile_row, tile_data): {e}") from None
        if not count:
            raise InvalidInput(f"{source}: holds no tiles")
        if not (isinstance(zmin, int) and isinstance(zmax, int)
                and 0 <= zmin <= zmax <= MAX_ZOOM):
            raise InvalidInput(f"{source}: tiles at zoom levels {zmin}..{zmax}; a package "
                               f"holds zoom levels within 0..{MAX_ZOOM}")
        minzoom = _zoom(meta.get("minzoom"), "minzoom")
        maxzoom = _zoom(meta.get("maxzoom"), "maxzoom")
        minzoom = zmin if minzoom is None else minzoom
        maxzoom = zmax if maxzoom is None else maxzoom
        if minzoom > maxzoom:
            raise InvalidInput(f"{source}: minzoom {minzoom} is above maxzoom {maxzoom}")
        bounds = _bounds(meta.get("bounds"))
        # a sample of tiles spread over the zooms: each must be what the metadata says
        per_zoom = max(1, SAMPLE_TILES // (zmax - zmin + 1))
        for z in range(zmin, zmax + 1):
            for data in mbtiles.sample_tiles(conn, z, per_zoom):
                if not isinstance(data, bytes):
                    raise InvalidInput(f"{source}: a tile at zoom {z} is not binary data")
                got = sniff(data)
                if got != fmt:
                    raise InvalidInput(f"{source}: declares {fmt} tiles but a tile at zoom {z} "
                                       f"is {got or 'not a png, jpg or webp image'}")
                if len(data) > MAX_TILE_BYTES:
                    raise InvalidInput(f"{source}: a tile at zoom {z} is {len(data)} bytes "
                                       f"(most {MAX_TILE_BYTES})")
        return Package(
            name=name, format=fmt, minzoom=minzoom, maxzoom=maxzoom, bounds=bounds,
            attribution=attribution_text(meta.get("attribution", "")),
            description=attribution_text(meta.get("description", meta.get("name", ""))),
            sha256="", size=size, tiles=int(count),
            installed_at=datetime.now(UTC).replace(microsecond=0).isoformat(), source=source)
    finally:
        conn.close()


def install(instance_path: Path, src: Path, name: str | None = None,
            progress=None) -> Package:
    """Copy `src` into the instance, validate the copy, and make it a package named `name`.
    Nothing is left behind on refusal."""
    name = check_name(name or name_from_file(src))
    if not src.is_file():
        raise InvalidInput(f"{src}: no such file")
    size = src.stat().st_size
    if size > MAX_PACKAGE_BYTES:
        raise InvalidInput(f"{src.name}: {size} bytes, larger than the {MAX_PACKAGE_BYTES} "
                           "a basemap package may be")
    out = packages_dir(instance_path)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    manifest = out / f"{name}.json"
    if manifest.exists() or any((out / f"{name}.{k}").exists() for k in KINDS):
        raise InvalidInput(f"a basemap named {name!r} is installed; remove it first "
                           f"(geomap basemap remove {name})", field="name")
    fd, tmp_name = tempfile.mkstemp(prefix=".install-", suffix=".part", dir=out)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as dst, src.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
                dst.write(chunk)
                done += len(chunk)
                if done > MAX_PACKAGE_BYTES:
                    raise InvalidInput(f"{src.name}: larger than the {MAX_PACKAGE_BYTES} bytes "
                                       "a basemap package may be")
                if progress:
                    progress("copy", done, size)
            dst.flush()
            os.fsync(dst.fileno())
        if progress:
            progress("check", 0, 1)  # a full check of a large file takes a while
        pkg = inspect(tmp, name, src.name)
        if progress:
            progress("check", 1, 1)
        pkg = Package(**{**pkg.as_dict(), "bounds": pkg.bounds, "sha256": h.hexdigest(),
                         "size": done})
        os.chmod(tmp, 0o600)
        os.replace(tmp, out / f"{name}.{pkg.kind}")
        mtmp = manifest.with_suffix(".json.tmp")
        mtmp.write_text(json.dumps(pkg.as_dict(), ensure_ascii=False, indent=1))
        os.replace(mtmp, manifest)
        return pkg
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load(manifest: Path) -> Package | None:
    try:
        d = json.loads(manifest.read_text())
        d["bounds"] = tuple(float(v) for v in d["bounds"])
        pkg = Package(**d)
        check_name(pkg.name)
        if pkg.format not in FORMATS or pkg.name != manifest.stem or pkg.kind not in KINDS:
            return None
        return pkg
    except (OSError, ValueError, TypeError, KeyError, InvalidInput):
        return None


def installed(instance_path: Path) -> list[Package]:
    """Installed packages, by name (the first is the default base layer)."""
    out = packages_dir(instance_path)
    if not out.is_dir():
        return []
    found = (_load(m) for m in sorted(out.glob("*.json")))
    return [p for p in found if p is not None and package_file(instance_path, p).is_file()]


def package_file(instance_path: Path, pkg: Package) -> Path:
    return packages_dir(instance_path) / f"{pkg.name}.{pkg.kind}"


def get(instance_path: Path, name: str) -> Package:
    if NAME.fullmatch(name or ""):
        manifest = packages_dir(instance_path) / f"{name}.json"
        pkg = _load(manifest) if manifest.is_file() else None
        if pkg is not None and package_file(instance_path, pkg).is_file():
            return pkg
    raise NotFound(f"no basemap named {name!r} is installed (geomap basemap list)")


def remove(instance_path: Path, name: str) -> Package:
    pkg = get(instance_path, check_name(name))
    out = packages_dir(instance_path)
    (out / f"{name}.json").unlink(missing_ok=True)  # first: a half-removed package is not listed
    package_file(instance_path, pkg).unlink(missing_ok=True)
    return pkg


def _tile_box(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 2**z

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return (x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y))


_local = threading.local()


def read_tile(instance_path: Path, pkg: Package, z: int, x: int, y: int) -> bytes | None:
    """The tile at XYZ z/x/y, or None outside the package (zoom range, bounds, no such tile).
    MBTiles rows are TMS: the row counts from the south."""
    if not (pkg.minzoom <= z <= pkg.maxzoom and 0 <= x < 2**z and 0 <= y < 2**z):
        return None
    w, s, e, n = _tile_box(z, x, y)
    bw, bs, be, bn = pkg.bounds
    if e <= bw or w >= be or n <= bs or s >= bn:
        return None
    path = package_file(instance_path, pkg)
    if pkg.kind == "pmtiles":
        data = _pmtiles_reader(path, pkg).tile(z, x, y)
        if data is None or len(data) > MAX_TILE_BYTES:
            return None
        return data if sniff(data) == pkg.format else None
    cache: dict = getattr(_local, "conns", None) or {}
    _local.conns = cache
    key = (str(path), pkg.sha256)
    conn = cache.get(key)
    if conn is None:
        for old in [k for k in cache if k[0] == key[0]]:
            cache.pop(old).close()
        conn = cache[key] = _connect(path)
    data = mbtiles.tile(conn, z, x, 2**z - 1 - y)  # MBTiles rows are TMS
    if not isinstance(data, bytes) or len(data) > MAX_TILE_BYTES:
        return None
    return data if sniff(data) == pkg.format else None


# -- PMTiles v3 ---------------------------------------------------------------------------------
def _gunzip(data: bytes, limit: int, what: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit)
    except zlib.error as e:
        raise InvalidInput(f"{what} is not valid gzip ({e})") from None
    if d.unconsumed_tail:
        raise InvalidInput(f"{what} expands beyond {limit} bytes")
    return out


def _directory(raw: bytes, what: str) -> list:
    """A PMTiles directory (gzip, varints), decompressed with a limit (pmtiles' own
    deserialize_directory has none)."""
    from pmtiles.tile import Entry, read_varint

    b = io.BytesIO(_gunzip(raw, MAX_DIRECTORY_BYTES, what))
    try:
        n = read_varint(b)
        if n > MAX_DIRECTORY_BYTES // 4:
            raise InvalidInput(f"{what}: {n} entries")
        entries, last = [], 0
        for _ in range(n):
            last += read_varint(b)
            entries.append(Entry(last, 0, 0, 0))
        for e in entries:
            e.run_length = read_varint(b)
        for e in entries:
            e.length = read_varint(b)
        for i, e in enumerate(entries):
            v = read_varint(b)
            e.offset = entries[i - 1].offset + entries[i - 1].length if i and v == 0 else v - 1
    except EOFError:
        raise InvalidInput(f"{what} is cut short") from None
    return entries


class _PMTiles:
    """Tiles of one installed, validated archive: header and root read once, leaves cached."""

    LEAVES = 64

    def __init__(self, path: Path):
        from pmtiles.tile import deserialize_header

        self.f = path.open("rb")
        self.h = deserialize_header(self._read(0, 127))
        self.root = _directory(self._read(self.h["root_offset"], self.h["root_length"]), "root")
        self.leaves: dict = {}

    def _read(self, offset: int, length: int) -> bytes:
        return os.pread(self.f.fileno(), length, offset)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        from pmtiles.tile import find_tile, zxy_to_tileid

        tid, entries = zxy_to_tileid(z, x, y), self.root
        for _ in range(4):
            e = find_tile(entries, tid)
            if e is None:
                return None
            if e.run_length:
                return self._read(self.h["tile_data_offset"] + e.offset, e.length)
            key = (e.offset, e.length)
            entries = self.leaves.get(key)
            if entries is None:
                if len(self.leaves) >= self.LEAVES:
                    self.leaves.pop(next(iter(self.leaves)))
                entries = self.leaves[key] = _directory(
                    self._read(self.h["leaf_directory_offset"] + e.offset, e.length), "leaf")
        return None


def _pmtiles_reader(path: Path, pkg: Package) -> _PMTiles:
    cache: dict = getattr(_local, "pmtiles", None) or {}
    _local.pmtiles = cache
    key = (str(path), pkg.sha256)
    r = cache.get(key)
    if r is None:
        for old in [k for k in cache if k[0] == key[0]]:
            cache.pop(old).f.close()
        r = cache[key] = _PMTiles(path)
    return r


def _inspect_pmtiles(path: Path, name: str, source: str) -> Package:
    try:
        from pmtiles.tile import Compression, TileType, deserialize_header, tileid_to_zxy
    except ImportError:  # pragma: no cover - a dependency
        raise InvalidInput(f"{source}: PMTiles needs the `pmtiles` package "
                           "(pip install pmtiles)") from None
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(127)
    if len(head) < 127 or head[7] != 3:
        raise InvalidInput(f"{source}: PMTiles version {head[7] if len(head) > 7 else '?'}; "
                           "only version 3 is read (convert it with `pmtiles convert`)")
    try:
        h = deserialize_header(head)
    except ValueError as e:  # an unknown enum value
        raise InvalidInput(f"{source}: damaged PMTiles header ({e})") from None
    kind = h["tile_type"]
    if kind in (TileType.MVT, TileType.MLT):
        raise InvalidInput(f"{source}: holds vector tiles ({kind.name.lower()}); a basemap "
                           "package must be raster (png, jpg or webp): render it to raster first")
    fmt = {TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp"}.get(kind)
    if fmt is None:
        raise InvalidInput(f"{source}: tile type {kind.name.lower()} is not one of png, jpg, webp")
    if h["tile_compression"] not in (Compression.NONE, Compression.UNKNOWN):
        raise InvalidInput(f"{source}: raster tiles compressed with "
                           f"{h['tile_compression'].name.lower()}; expected none")
    if h["internal_compression"] != Compression.GZIP:
        raise InvalidInput(f"{source}: directories compressed with "
                           f"{h['internal_compression'].name.lower()}; only gzip is read")
    for part in ("root", "metadata", "leaf_directory", "tile_data"):
        off, n = h[f"{part}_offset"], h[f"{part}_length"]
        if off < 127 and n or off + n > size:
            raise InvalidInput(f"{source}: its {part.replace('_', ' ')} lies outside the file "
                               "(cut short or damaged)")
    if h["root_length"] > 16384 - 127 or h["metadata_length"] > MAX_METADATA_BYTES:
        raise InvalidInput(f"{source}: root directory or metadata larger than PMTiles allows")
    if not 0 <= h["min_zoom"] <= h["max_zoom"] <= MAX_ZOOM:
        raise InvalidInput(f"{source}: tiles at zoom levels {h['min_zoom']}..{h['max_zoom']}; "
                           f"a package holds zoom levels within 0..{MAX_ZOOM}")
    bounds = _bounds(",".join(str(h[k] / 1e7) for k in
                              ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")),
                     f"{source}: header bounds")
    with path.open("rb") as f:
        def read(off, n):
            return os.pread(f.fileno(), n, off)

        meta: dict = {}
        if h["metadata_length"]:
            try:
                meta = json.loads(_gunzip(read(h["metadata_offset"], h["metadata_length"]),
                                          MAX_METADATA_BYTES * 8, "metadata"))
            except ValueError:
                raise InvalidInput(f"{source}: its metadata is not JSON") from None
            if not isinstance(meta, dict):
                raise InvalidInput(f"{source}: its metadata is not a JSON object")
        # every directory, walked once: entries within their sections, a sample of tiles sniffed
        per_zoom = max(1, SAMPLE_TILES // (h["max_zoom"] - h["min_zoom"] + 1))
        sampled: dict[int, int] = {}
        count = 0
        todo = [(h["root_offset"], h["root_length"], "root directory", 0)]
        while todo:
            off, n, what, depth = todo.pop()
            if depth > 3:
                raise InvalidInput(f"{source}: directories nested deeper than PMTiles allows")
            try:
                entries = _directory(read(off, n), what)
            except InvalidInput as e:
                raise InvalidInput(f"{source}: {e}") from None
            for e in entries:
                if e.run_length == 0:
                    if e.offset + e.length > h["leaf_directory_length"]:
                        raise InvalidInput(f"{source}: a leaf directory lies outside the file")
                    todo.append((h["leaf_directory_offset"] + e.offset, e.length,
                                 "leaf directory", depth + 1))
                    continue
                if e.offset + e.length > h["tile_data_length"] or e.length > MAX_TILE_BYTES:
                    raise InvalidInput(f"{source}: a tile lies outside the file or is larger "
                                       f"than {MAX_TILE_BYTES} bytes")
                z = tileid_to_zxy(e.tile_id)[0]
                if not h["min_zoom"] <= z <= h["max_zoom"]:
                    raise InvalidInput(f"{source}: a tile at zoom {z}, outside the archive's "
                                       f"{h['min_zoom']}..{h['max_zoom']}")
                count += e.run_length
                if sampled.get(z, 0) < per_zoom:
                    sampled[z] = sampled.get(z, 0) + 1
                    got = sniff(read(h["tile_data_offset"] + e.offset, e.length))
                    if got != fmt:
                        raise InvalidInput(f"{source}: declares {fmt} tiles but a tile at zoom "
                                           f"{z} is {got or 'not a png, jpg or webp image'}")
        if not count:
            raise InvalidInput(f"{source}: holds no tiles")

    def text(key: str) -> str:
        v = meta.get(key)
        return attribution_text(v) if isinstance(v, str) else ""

    return Package(
        name=name, format=fmt, minzoom=h["min_zoom"], maxzoom=h["max_zoom"], bounds=bounds,
        attribution=text("attribution"), description=text("description") or text("name"),
        sha256="", size=size, tiles=count,
        installed_at=datetime.now(UTC).replace(microsecond=0).isoformat(), source=source,
        kind="pmtiles")
