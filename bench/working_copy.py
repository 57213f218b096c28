"""Which compression for the working copy (COG) of an 8-bit RGB scene: size, conversion time,
tile-render time and whether the pixels survive.

    python bench/working_copy.py [--size 4096] [--tiles 80]

Makes a SIZE x SIZE 3-band uint8 GeoTIFF that looks like a 1 m satellite scene: smooth terrain,
fields, roads, roofs with shadows, 1-pixel fence lines (the features an analyst marks) and
sensor noise (EPSG:32652, near Yodok). Converts it with rio-cogeo as geomap's ingest does
(512 px blocks, average overviews, internal mask) to JPEG quality 75 (the old default), DEFLATE
and ZSTD with the horizontal predictor (PREDICTOR=2), and lossless WebP; for each prints the file
size, the conversion's wall and CPU seconds, the bare rio-tiler `tile() + render(PNG)` time at
the native zoom and two levels coarser (one Reader, warm cache, CPU seconds beside wall), and
the largest pixel difference from the original at full resolution (0 = lossless) and on the
fence lines. Writes bench/out/working_copy.json. No timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

OUT = HERE / "out" / "working_copy.json"
LON, LAT = 126.9, 39.7
EPSG = 32652


def make_scene(path: Path, size: int, seed: int = 0) -> object:
    """A realistic 8-bit RGB scene; returns the boolean (size, size) mask of its fence lines."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import transform as warp_transform

    rng = np.random.default_rng(seed)
    # terrain: multi-scale smooth noise, greener low, browner high
    t = np.zeros((size, size), np.float32)
    for cells, amp in ((8, 60), (32, 25), (128, 10)):
        t += amp * _smooth_noise(rng, size, cells)
    rgb = np.stack([95 + 0.6 * t, 105 + 0.4 * t, 70 + 0.2 * t])
    # fields: 48-160 px rectangles of one crop colour with row stripes
    for _ in range(size * size // 40_000):
        h, w = rng.integers(48, 160, 2)
        y, x = rng.integers(0, size - 160, 2)
        colour = rng.uniform([70, 90, 40], [150, 150, 90])
        stripes = 6 * np.sin(np.arange(w) / rng.uniform(2, 5))[None, :]
        for b in range(3):
            rgb[b, y:y + h, x:x + w] = colour[b] + stripes
    # roads: 3-6 px wide grey lines
    for _ in range(size // 256):
        if rng.random() < 0.5:
            r0, wd = rng.integers(0, size - 8), rng.integers(3, 7)
            rgb[:, r0:r0 + wd, :] = np.array([150, 145, 135])[:, None, None]
        else:
            c0, wd = rng.integers(0, size - 8), rng.integers(3, 7)
            rgb[:, :, c0:c0 + wd] = np.array([150, 145, 135])[:, None, None]
    # buildings: bright or dark roofs with a shadow on the south-east side
    for _ in range(size * size // 8_000):
        h, w = rng.integers(6, 30, 2)
        y, x = rng.integers(4, size - 40, 2)
        roof = rng.choice([rng.uniform(170, 230), rng.uniform(60, 100)])
        rgb[:, y + 3:y + h + 3, x + 3:x + w + 3] *= 0.55
        rgb[:, y:y + h, x:x + w] = np.array([roof, roof * 0.97, roof * 0.93])[:, None, None]
    rgb = _blur(rgb)  # the optics' blur, before the sharp fences
    # perimeter fences: 1-pixel lines, bright (wire) or dark (posts' shadow), as closed squares
    fence = np.zeros((size, size), bool)
    for _ in range(max(4, size // 512)):
        s = int(rng.integers(size // 8, size // 3))
        y, x = rng.integers(0, size - s - 1, 2)
        fence[y, x:x + s] = fence[y + s, x:x + s + 1] = True
        fence[y:y + s, x] = fence[y:y + s, x + s] = True
    bright = rng.random() < 0.5
    rgb[:, fence] = (np.array([235, 235, 225]) if bright else np.array([25, 25, 30]))[:, None]
    rgb += rng.normal(0, 3.5, rgb.shape).astype(np.float32)  # sensor noise
    data = np.clip(rgb, 0, 255).astype(np.uint8)
    xs, ys = warp_transform("EPSG:4326", f"EPSG:{EPSG}", [LON], [LAT])
    left, top = round(xs[0]) - size // 2, round(ys[0]) + size // 2
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": f"EPSG:{EPSG}", "transform": from_origin(left, top, 1.0, 1.0),
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE",
               "predictor": 2}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return fence


def _smooth_noise(rng, size: int, cells: int):
    """Gaussian noise on a cells x cells grid, bilinearly interpolated to size x size."""
    import numpy as np

    coarse = rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32)
    pos = np.arange(size, dtype=np.float32) * cells / size
    i = pos.astype(int)
    f = pos - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _blur(a):
    """A 3 x 3 binomial blur over the last two axes (about sigma 0.7 px)."""
    import numpy as np

    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
    v = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
    return (v[:, :, :-2] + 2 * v[:, :, 1:-1] + v[:, :, 2:]) / 4


def convert(src: Path, dst: Path, kind: str) -> dict:
    """geomap's ingest conversion with the working-copy profile `kind`."""
    import rasterio
    from rio_cogeo.cogeo import cog_translate

    from geomap.imagery import GDAL_ENV, working_copy_profile

    profile = working_copy_profile(kind)
    w0, c0 = time.perf_counter(), time.process_time()
    with rasterio.Env(**GDAL_ENV), rasterio.open(src) as ds:
        cog_translate(ds, dst, profile, add_mask=True, overview_resampling="average",
                      quiet=True)
    return {"convert_wall_s": round(time.perf_counter() - w0, 2),
            "convert_cpu_s": round(time.process_time() - c0, 2),
            "bytes": dst.stat().st_size}


def pixel_error(src: Path, cog: Path, fence) -> dict:
    import numpy as np
    import rasterio

    with rasterio.open(src) as a, rasterio.open(cog) as b:
        x, y = a.read().astype(np.int16), b.read().astype(np.int16)
    d = np.abs(x - y)
    return {"max_abs_diff": int(d.max()), "mean_abs_diff": round(float(d.mean()), 3),
            "fence_max_abs_diff": int(d[:, fence].max()),
            "fence_mean_abs_diff": round(float(d[:, fence].mean()), 2),
            "pixels_changed_pct": round(100 * float((d.max(axis=0) > 0).mean()), 2)}


def tiles_at(cog: Path, n: int, seed: int = 1) -> dict[int, list[tuple]]:
    import morecantile
    from rasterio.crs import CRS
    from rio_tiler.io import Reader

    tms = morecantile.tms.get("WebMercatorQuad")
    with Reader(str(cog)) as src:
        w, s, e, nn = src.get_geographic_bounds(CRS.from_epsg(4326))
        maxzoom = src.maxzoom
    mx, my = (e - w) * 0.1, (nn - s) * 0.1
    rng = random.Random(seed)
    out = {}
    for z in (maxzoom, maxzoom - 2):
        ts = [t for t in tms.tiles(w + mx, s + my, e - mx, nn - my, zooms=[z])]
        rng.shuffle(ts)
        out[z] = [(t.x, t.y, t.z) for t in ts[:n]]
    return out


def render_times(cog: Path, tiles: list[tuple], fmt: str = "PNG") -> dict:
    """`tile()` + `render()` as the endpoint calls them, one Reader kept open, after a warm-up
    pass: p50 per tile, and wall and CPU seconds for the pass."""
    import rasterio
    from rio_tiler.io import Reader

    from geomap.imagery import GDAL_ENV

    with rasterio.Env(**GDAL_ENV), Reader(str(cog)) as src:
        for x, y, z in tiles:
            src.tile(x, y, z, tilesize=256, indexes=(1, 2, 3)).render(img_format=fmt)
        times, read_times = [], []
        w0, c0 = time.perf_counter(), time.process_time()
        for x, y, z in tiles:
            t0 = time.perf_counter()
            img = src.tile(x, y, z, tilesize=256, indexes=(1, 2, 3))
            t1 = time.perf_counter()
            img.render(img_format=fmt)
            times.append(time.perf_counter() - t0)
            read_times.append(t1 - t0)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"p50_ms": round(1000 * statistics.median(times), 2),
            "read_p50_ms": round(1000 * statistics.median(read_times), 2),
            "cpu_ms_per_tile": round(1000 * cpu / len(tiles), 2),
            "wall_ms_per_tile": round(1000 * wall / len(tiles), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--tiles", type=int, default=80)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    from geomap.imagery import WORKING_COPIES

    res: dict = {"size": args.size, "load_start": os.getloadavg()[0], "rows": {}}
    with tempfile.TemporaryDirectory(prefix="geomap-wc-") as tmp:
        src = Path(tmp) / "scene.tif"
        t0 = time.perf_counter()
        fence = make_scene(src, args.size)
        print(f"scene {args.size} x {args.size} x 3 uint8 made in "
              f"{time.perf_counter() - t0:.0f} s; {int(fence.sum()):,} fence pixels",
              file=sys.stderr)
        tiles = None
        for kind in WORKING_COPIES:
            cog = Path(tmp) / f"{kind}.tif"
            row = convert(src, cog, kind)
            tiles = tiles or tiles_at(cog, args.tiles)
            row.update(pixel_error(src, cog, fence))
            for z, ts in tiles.items():
                row[f"png_z{z}"] = render_times(cog, ts)
            row["jpeg_tile_native"] = render_times(cog, tiles[max(tiles)], "JPEG")
            res["rows"][kind] = row
            print(f"  {kind}: {row['bytes'] / 1e6:.1f} MB", file=sys.stderr)
            cog.unlink()
        res["raw_bytes"] = args.size * args.size * 3
        res["zooms"] = sorted(tiles)
    res["load_end"] = os.getloadavg()[0]
    print_table(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


def print_table(res: dict) -> None:
    native, coarse = max(res["zooms"]), min(res["zooms"])
    print(f"\n=== working copy of a {res['size']:,} x {res['size']:,} 8-bit RGB scene "
          f"({res['raw_bytes'] / 1e6:.0f} MB raw); tiles 256 px, one Reader, warm ===")
    head = (f"{'working copy':<14} {'MB':>6} {'ratio':>6} {'conv s':>7} {'conv cpu':>8} "
            f"{'PNG z' + str(native) + ' ms':>12} {'cpu':>6} {'read':>6} "
            f"{'PNG z' + str(coarse) + ' ms':>12} {'cpu':>6} {'JPEG z' + str(native):>9} "
            f"{'max diff':>8} {'fence max':>9} {'changed %':>9}")
    print(head)
    print("-" * len(head))
    for kind, r in res["rows"].items():
        n, c, j = r[f"png_z{native}"], r[f"png_z{coarse}"], r["jpeg_tile_native"]
        print(f"{kind:<14} {r['bytes'] / 1e6:>6.1f} {res['raw_bytes'] / r['bytes']:>6.2f} "
              f"{r['convert_wall_s']:>7.1f} {r['convert_cpu_s']:>8.1f} {n['p50_ms']:>12.1f} "
              f"{n['cpu_ms_per_tile']:>6.1f} {n['read_p50_ms']:>6.1f} {c['p50_ms']:>12.1f} "
              f"{c['cpu_ms_per_tile']:>6.1f} {j['p50_ms']:>9.1f} {r['max_abs_diff']:>8} "
              f"{r['fence_max_abs_diff']:>9} {r['pixels_changed_pct']:>9.2f}")
    print(f"load average (1 min): {res['load_start']:.2f} at the start, {res['load_end']:.2f} "
          "at the end")


if __name__ == "__main__":
    sys.exit(main())
