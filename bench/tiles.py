"""Benchmark imagery tiles: our endpoint against a bare rio-tiler loop and TiTiler, in one run.

    python bench/tiles.py [--size 16384] [--requests 300] [--tiles 60] [--no-titiler]
                          [--working-copy lossless|jpeg]

Builds a textured SIZE x SIZE 3-band uint8 GeoTIFF (EPSG:32652, 1 m pixels, near Yodok),
ingests it into a temporary instance with geomap.imagery.ingest (evidentiary copy + COG working
copy: lossless DEFLATE with the predictor by default, as geomap makes it; JPEG if asked) and
serves the app with gunicorn (2 sync workers) on a loopback port. For JPEG and PNG, at the
native zoom (rio-tiler's maxzoom) and two levels coarser, over the same fixed set of tiles:

* bare loop: rio-tiler in this process, one thread, `Reader(cog).tile(...)` + `render(...)`
  exactly as the endpoint calls them (opening the COG per tile, like the endpoint; and with
  one Reader kept open, the upper bound); and the same loop in 2 processes at once (what this
  machine gives 2 workers);
* ours: GET /tiles/<scene>/{z}/{x}/{y}.jpg|png signed in (session cookie), from 1 and from 2
  client threads; per-worker tiles/s = tiles/s with 2 clients / 2 workers;
* ETag hit: the same tile again with If-None-Match (304);
* TiTiler (titiler.core + uvicorn --workers 2, installed into a throw-away overlay environment
  if not importable here) serving the same COG, 2 client threads, `Connection: close`
  (uvicorn's keep-alive latency bug, encode/uvicorn#3149).

Every row is measured after one untimed pass over the tile set (GDAL's block cache warm in
each process). Latencies are per request from the client (p50/p95, nearest rank). Prints a
table with the ratios against the issue's targets (per-worker ours >= 0.8x the bare loop;
ours >= TiTiler; a 304 under 5 ms) and writes everything to bench/out/tiles.json. No timing is
asserted. Exit status 1 on a real error (a tile that is not a 200 image, a server that does not
start, an exception); 0 otherwise.
"""

from __future__ import annotations

import argparse
import http.client
import inspect
import json
import os
import platform
import random
import signal
import site
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import venv
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import BenchError, add_bench_user, log, nearest_rank, sign_in_http  # noqa: E402

OUT = HERE / "out" / "tiles.json"
HOST = "127.0.0.1"
WORKERS = 2
LON, LAT = 126.9, 39.7  # near Yodok (Kwalliso 15)
EPSG = 32652  # UTM zone 52N
# extension, media types (TiTiler says image/jpg), magic bytes
FORMATS = {"JPEG": ("jpg", ("image/jpeg", "image/jpg"), b"\xff\xd8\xff"),
           "PNG": ("png", ("image/png",), b"\x89PNG\r\n\x1a\n")}
TARGET_PER_WORKER = 0.8
TARGET_VS_TITILER = 1.0
TARGET_304_MS = 5.0
START_TIMEOUT_S = 90


# -- the image ----------------------------------------------------------------------------------
def make_geotiff(path: Path, size: int, seed: int = 0) -> None:
    """A textured RGB GeoTIFF (gradients, waves, blocks and noise), written strip by strip."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import transform as warp_transform
    from rasterio.windows import Window

    xs, ys = warp_transform("EPSG:4326", f"EPSG:{EPSG}", [LON], [LAT])
    left, top = round(xs[0]) - size // 2, round(ys[0]) + size // 2
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": f"EPSG:{EPSG}", "transform": from_origin(left, top, 1.0, 1.0),
               "tiled": True, "blockxsize": 512, "blockysize": 512, "interleave": "pixel",
               "BIGTIFF": "IF_SAFER"}
    rng = np.random.default_rng(seed)
    strip = 512
    x = np.arange(size, dtype=np.float32)[None, :]
    t0 = time.monotonic()
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, strip):
            h = min(strip, size - row)
            y = np.arange(row, row + h, dtype=np.float32)[:, None]
            # field-like blocks: a value per 64 x 64 px cell, hashed from its position
            cells = ((x // 64).astype(np.int64) * 7919 + (y // 64).astype(np.int64) * 104729)
            blocks = ((cells * 2654435761) % 61).astype(np.float32) - 30
            bands = []
            for b in range(3):
                waves = 45 * np.sin(x / (90 + 17 * b)) * np.cos(y / (130 - 11 * b))
                ramp = 60 * ((x + (b + 1) * y) / ((b + 2) * size) - 0.5)
                noise = rng.normal(0, 10, (h, size)).astype(np.float32)
                bands.append(np.clip(120 + 10 * b + waves + ramp + blocks + noise, 0, 255))
            data = np.stack(bands).astype(np.uint8)
            dst.write(data, window=Window(0, row, size, h))
            if row // strip % 8 == 7 or row + h >= size:
                log(f"  GeoTIFF rows {row + h:,}/{size:,} ({time.monotonic() - t0:.0f} s)")


def build_instance(tmp: Path, size: int, working_copy: str = "lossless") -> dict:
    """Instance with the ingested scene and the bench user; returns what the rest needs."""
    from geomap.config import load_settings
    from geomap.imagery import ingest
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    try:
        src = tmp / f"bench-{size}.tif"
        log(f"making a {size:,} x {size:,} px 3-band GeoTIFF ...")
        t0 = time.perf_counter()
        make_geotiff(src, size)
        t1 = time.perf_counter()
        log(f"ingesting it (copy + SHA-256 + COG; {src.stat().st_size / 1e6:,.0f} MB) ...")
        kwargs = {}
        params = inspect.signature(ingest).parameters
        if "progress_out" in params:
            kwargs["progress_out"] = sys.stderr
        if "working_copy" in params:
            kwargs["working_copy"] = working_copy
        elif working_copy != "jpeg":
            raise BenchError("this geomap makes JPEG working copies only: --working-copy jpeg")
        scene = ingest(src, settings.instance_path / "imagery", date(2024, 5, 1), actor="bench",
                       sensor="synthetic", **kwargs)
        t2 = time.perf_counter()
        SceneStore(store).add(scene, actor="bench")
        secret, _codes = add_bench_user(store)
        src.unlink()  # the evidentiary copy stays in the instance
    finally:
        store.close()
    cog = settings.instance_path / "imagery" / scene.id / "cog.tif"
    import rasterio

    with rasterio.open(cog) as ds:
        compression = ds.compression.name.upper() if ds.compression else "NONE"
    log(f"scene {scene.id}: {compression} COG {cog.stat().st_size / 1e6:,.0f} MB "
        f"(GeoTIFF {t1 - t0:.0f} s, ingest {t2 - t1:.0f} s)")
    return {"instance": settings.instance_path, "scene_id": scene.id, "cog": cog,
            "secret": secret, "make_s": round(t1 - t0, 1), "ingest_s": round(t2 - t1, 1),
            "cog_bytes": cog.stat().st_size, "res_m": scene.res_m,
            "working_copy": working_copy, "compression": compression}


def pick_tiles(cog: Path, n: int, seed: int = 1) -> tuple[dict[int, list[tuple]], dict]:
    """`n` distinct tiles well inside the image at the native zoom and two levels coarser."""
    import morecantile
    from rasterio.crs import CRS
    from rio_tiler.io import Reader

    tms = morecantile.tms.get("WebMercatorQuad")
    with Reader(str(cog)) as src:
        minzoom, maxzoom = src.minzoom, src.maxzoom
        w, s, e, nn = src.get_geographic_bounds(CRS.from_epsg(4326))
    # keep 10 % away from the edges: the UTM square is a little rotated in lon/lat
    mx, my = (e - w) * 0.1, (nn - s) * 0.1
    inner = (w + mx, s + my, e - mx, nn - my)
    rng = random.Random(seed)
    out: dict[int, list[tuple]] = {}
    for z in (maxzoom, max(minzoom, maxzoom - 2)):
        inside = [t for t in tms.tiles(*inner, zooms=[z])
                  if _within(tms.bounds(t), inner)]
        if not inside:
            raise BenchError(f"no tile at zoom {z} lies inside the image")
        rng.shuffle(inside)
        out[z] = [(t.x, t.y, t.z) for t in inside[:n]]
    return out, {"minzoom": minzoom, "maxzoom": maxzoom, "bounds": [w, s, e, nn]}


def _within(b, box) -> bool:
    return b.left >= box[0] and b.bottom >= box[1] and b.right <= box[2] and b.top <= box[3]


# -- timing helpers -----------------------------------------------------------------------------
def stats(times: list[float], wall: float, sizes: list[int] | None = None,
          cpu_s: float | None = None) -> dict:
    """`cpu_s`: CPU seconds the renderer spent (steadier than wall time on a shared machine)."""
    ms = [t * 1000 for t in times]
    out = {"n": len(ms), "wall_s": round(wall, 3), "tiles_per_s": round(len(ms) / wall, 2),
           "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(nearest_rank(ms, 0.95), 2),
           "min_ms": round(min(ms), 2)}
    if sizes:
        out["bytes_per_tile"] = int(statistics.mean(sizes))
    if cpu_s is not None:
        out["cpu_ms_per_tile"] = round(1000 * cpu_s / len(ms), 2)
    return out


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group `pgid` (a server and
    its workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ..., utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / tick


def request_list(tiles: list[tuple], n: int) -> list[tuple]:
    return [tiles[i % len(tiles)] for i in range(n)]


def _bare_run(cog: Path, reqs: list[tuple], driver: str,
              reuse: bool) -> tuple[list[float], list[int], float, float]:
    """rio-tiler as the endpoint calls it, over `reqs`: (latencies, sizes, wall seconds, CPU
    seconds)."""
    import rasterio
    from rio_tiler.io import Reader

    from geomap.imagery import GDAL_ENV

    add_mask = driver != "JPEG"  # as the endpoint renders

    def one(src, x, y, z) -> bytes:
        img = src.tile(x, y, z, tilesize=256, indexes=(1, 2, 3))
        if not img.mask.any():
            raise BenchError(f"bare loop: tile {z}/{x}/{y} holds no data")
        return img.render(img_format=driver, add_mask=add_mask)

    times, sizes = [], []
    with rasterio.Env(**GDAL_ENV):
        shared = Reader(str(cog)) if reuse else None
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            for x, y, z in reqs:
                t0 = time.perf_counter()
                if shared is not None:
                    body = one(shared, x, y, z)
                else:
                    with Reader(str(cog)) as src:
                        body = one(src, x, y, z)
                times.append(time.perf_counter() - t0)
                sizes.append(len(body))
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        finally:
            if shared is not None:
                shared.close()
    return times, sizes, wall, cpu


def bare_loop(cog: Path, tiles: list[tuple], n: int, driver: str, reuse: bool) -> dict:
    """rio-tiler in this process, one thread: what one worker could do at best."""
    _bare_run(cog, tiles, driver, reuse)  # warm-up: one pass over the tile set
    times, sizes, wall, cpu = _bare_run(cog, request_list(tiles, n), driver, reuse)
    return stats(times, wall, sizes, cpu)


def _bare_process(cog: Path, warm: list[tuple], reqs: list[tuple], driver: str, barrier,
                  queue) -> None:
    try:
        _bare_run(cog, warm, driver, False)
        barrier.wait()
        t0 = time.monotonic()
        times, sizes, _wall, cpu = _bare_run(cog, reqs, driver, False)
        queue.put((times, sizes, t0, time.monotonic(), None, cpu))
    except BaseException as e:  # noqa: BLE001 - sent to the parent
        barrier.abort()
        queue.put(([], [], 0.0, 0.0, f"{type(e).__name__}: {e}", 0.0))


def bare_processes(cog: Path, tiles: list[tuple], n: int, driver: str, procs: int) -> dict:
    """The bare loop in `procs` processes at once: what this machine gives `procs` workers."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    reqs = request_list(tiles, n)
    ps = [ctx.Process(target=_bare_process, args=(cog, tiles, reqs[i::procs], driver, barrier,
                                                  queue), daemon=True) for i in range(procs)]
    for p in ps:
        p.start()
    try:
        got = [queue.get(timeout=600) for _ in ps]
    finally:
        for p in ps:
            p.join(10)
            if p.is_alive():
                p.kill()
    errors = [g[4] for g in got if g[4]]
    if errors:
        raise BenchError(f"bare loop in {procs} processes: {errors[0]}")
    times = [t for g in got for t in g[0]]
    sizes = [s for g in got for s in g[1]]
    wall = max(g[3] for g in got) - min(g[2] for g in got)
    return stats(times, wall, sizes, sum(g[5] for g in got))


class Client:
    """One HTTP connection (http.client reopens it by itself when the server closed it)."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def get(self, path: str, extra: dict | None = None) -> tuple[float, int, dict, bytes]:
        headers = {**self.headers, **(extra or {})}
        for attempt in (0, 1):
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a kept-alive connection the server had closed: once more on a new one
                self.conn.close()
                if attempt:
                    raise
        dt = time.perf_counter() - t0
        return dt, resp.status, {k.lower(): v for k, v in resp.getheaders()}, body

    def close(self) -> None:
        self.conn.close()


def check_tile(path: str, status: int, headers: dict, body: bytes, driver: str) -> None:
    _ext, mimes, magic = FORMATS[driver]
    if status != 200:
        raise BenchError(f"GET {path}: HTTP {status}: {body[:200]!r}")
    mime = headers.get("content-type", "").split(";")[0].strip()
    if mime not in mimes or not body.startswith(magic):
        raise BenchError(f"GET {path}: not a {driver} image "
                         f"({headers.get('content-type')}, {len(body)} bytes)")


def http_load(port: int, headers: dict, paths: list[str], threads: int, driver: str,
              warm: list[str], server_pgid: int | None = None) -> dict:
    """`paths` from `threads` client threads (each its own connection); tiles/s over the wall;
    with `server_pgid`, the CPU the server's processes spent on them."""

    def run(todo: list[str]) -> tuple[list[float], list[int], float]:
        times: list[float] = []
        sizes: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads + 1)

        def worker(mine: list[str]) -> None:
            client = Client(port, headers)
            try:
                barrier.wait()
                for p in mine:
                    dt, status, hdrs, body = client.get(p)
                    check_tile(p, status, hdrs, body, driver)
                    with lock:
                        times.append(dt)
                        sizes.append(len(body))
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
                barrier.abort()
            finally:
                client.close()

        ts = [threading.Thread(target=worker, args=(todo[i::threads],), daemon=True)
              for i in range(threads)]
        for t in ts:
            t.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        w0 = time.perf_counter()
        for t in ts:
            t.join()
        wall = time.perf_counter() - w0
        if errors:
            raise errors[0]
        return times, sizes, wall

    run(warm)  # warm-up: one pass over the tile set
    cpu0 = group_cpu_s(server_pgid) if server_pgid else None
    times, sizes, wall = run(paths)
    cpu = group_cpu_s(server_pgid) - cpu0 if server_pgid else None
    return stats(times, wall, sizes, cpu)


def etag_hits(port: int, headers: dict, path: str, n: int) -> dict:
    client = Client(port, headers)
    try:
        _dt, status, hdrs, body = client.get(path)
        if status != 200 or "etag" not in hdrs:
            raise BenchError(f"GET {path}: HTTP {status}, ETag {hdrs.get('etag')!r}")
        times = []
        w0 = time.perf_counter()
        for _ in range(n):
            dt, status, _h, body = client.get(path, {"If-None-Match": hdrs["etag"]})
            if status != 304 or body:
                raise BenchError(f"GET {path} with If-None-Match: HTTP {status}, "
                                 f"{len(body)} bytes (expected an empty 304)")
            times.append(dt)
        return stats(times, time.perf_counter() - w0)
    finally:
        client.close()


# -- servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess in its own process group; its output goes to a log file."""

    def __init__(self, name: str, cmd: list[str], cwd: Path, env: dict, port: int,
                 probe: str, log_path: Path):
        self.name, self.port, self.probe, self.log_path = name, port, probe, log_path
        self.log_file = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 + self.log_tail())
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", self.probe)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise BenchError(f"{self.name} did not answer within {START_TIMEOUT_S} s:\n"
                         + self.log_tail())

    def log_tail(self, n: int = 30) -> str:
        self.log_file.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn/uvicorn stop their workers
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within 15 s; killing its process group")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log_file.close()


def server_env() -> dict:
    from geomap.imagery import GDAL_ENV

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GEOMAP_INSTANCE")}
    env.update(GDAL_ENV)  # TiTiler gets the same GDAL settings as our endpoint
    env["PYTHONUNBUFFERED"] = "1"
    return env


def require_gunicorn() -> None:
    import importlib.util

    if importlib.util.find_spec("gunicorn") is None:
        raise BenchError(f"gunicorn is not installed in {sys.prefix}; install it with: "
                         f"{sys.executable} -m pip install gunicorn")


def start_gunicorn(tmp: Path, instance: Path) -> Server:
    require_gunicorn()
    (tmp / "benchapp.py").write_text(
        "from pathlib import Path\n\n"
        "from geomap.config import load_settings\n"
        "from geomap.web import create_app\n\n"
        f"app = create_app(load_settings(Path({str(instance)!r})))\n")
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-k", "sync",
           "-b", f"{HOST}:{port}", "--chdir", str(tmp), "--log-level", "warning",
           "benchapp:app"]
    log(f"starting gunicorn -w {WORKERS} on port {port} ...")
    srv = Server("gunicorn", cmd, tmp, server_env(), port, "/login", tmp / "gunicorn.log")
    srv.wait_ready()
    return srv


def titiler_python(tmp: Path) -> tuple[str | None, str]:
    """An interpreter that has titiler.core and uvicorn: this one, or an overlay environment
    in `tmp` that sees this one's packages (same rio-tiler, rasterio and GDAL) and gets only
    what is missing. (None, why) if they do not install."""
    probe = [sys.executable, "-c", "import titiler.core, uvicorn"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return sys.executable, "already installed"
    env_dir = tmp / "titiler-env"
    venv.create(env_dir, with_pip=False, symlinks=True)
    py = env_dir / "bin" / "python"
    overlay_site = Path(subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    (overlay_site / "_bench_base.pth").write_text("".join(
        f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages()))
    log("installing titiler.core and uvicorn into a throw-away overlay environment ...")
    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                        "--quiet", "--timeout", "30", "titiler.core", "uvicorn"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "pip install titiler.core uvicorn failed: " + (
            r.stderr.strip().splitlines() or ["?"])[-1]
    if subprocess.run([str(py), *probe[1:]], capture_output=True).returncode != 0:
        return None, "titiler.core installed but does not import"
    return str(py), "installed into a temporary overlay environment"


def start_titiler(tmp: Path, python: str) -> Server:
    (tmp / "titilerapp.py").write_text(
        "from fastapi import FastAPI\n"
        "from titiler.core.factory import TilerFactory\n\n"
        "app = FastAPI()\n"
        "cog = TilerFactory(router_prefix='/cog')\n"
        "app.include_router(cog.router, prefix='/cog')\n")
    port = free_port()
    cmd = [python, "-m", "uvicorn", "--workers", str(WORKERS), "--host", HOST,
           "--port", str(port), "--app-dir", str(tmp), "--no-access-log",
           "--log-level", "warning", "titilerapp:app"]
    log(f"starting TiTiler (uvicorn --workers {WORKERS}) on port {port} ...")
    srv = Server("uvicorn (TiTiler)", cmd, tmp, server_env(), port, "/docs",
                 tmp / "uvicorn.log")
    srv.wait_ready()
    return srv


def versions(titiler_py: str | None) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import rasterio

    out = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
           "python": platform.python_version(), "platform": platform.platform(),
           "cpus": os.cpu_count(), "gdal": rasterio.__gdal_version__}
    for name in ("rio-tiler", "rasterio", "rio-cogeo", "flask", "gunicorn"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    if titiler_py:
        code = ("from importlib.metadata import version as v; "
                "print(v('titiler.core'), v('uvicorn'), v('fastapi'))")
        r = subprocess.run([titiler_py, "-c", code], capture_output=True, text=True)
        if r.returncode == 0:
            out["titiler.core"], out["uvicorn"], out["fastapi"] = r.stdout.split()
    return out


# -- the run ------------------------------------------------------------------------------------
def measure(args, tmp: Path, res: dict) -> None:
    require_gunicorn()  # before the minute it takes to build the image
    inst = build_instance(tmp, args.size, args.working_copy)
    res["scene"] = {k: (str(v) if isinstance(v, Path) else v)
                    for k, v in inst.items() if k != "secret"}
    tiles, zinfo = pick_tiles(inst["cog"], args.tiles)
    res["scene"].update(zinfo)
    res["tiles"] = {str(z): [f"{z}/{x}/{y}" for x, y, z in ts] for z, ts in tiles.items()}

    titiler_py, why = (None, "skipped (--no-titiler)")
    if not args.no_titiler:
        try:
            titiler_py, why = titiler_python(tmp)
        except (OSError, subprocess.SubprocessError) as e:
            titiler_py, why = None, f"could not set up an environment for it: {e}"
    res["titiler"] = why if titiler_py else f"not measured: {why}"
    log(f"TiTiler: {res['titiler']}")
    res["environment"] = versions(titiler_py)

    servers: list[Server] = []
    try:
        ours = start_gunicorn(tmp, inst["instance"])
        servers.append(ours)
        session = sign_in_http(HOST, ours.port, inst["secret"])
        ours_headers = {"Cookie": f"__Host-geomap={session}", "Accept-Encoding": "identity"}
        titiler = None
        if titiler_py:
            titiler = start_titiler(tmp, titiler_py)
            servers.append(titiler)
        cog_q = quote(str(inst["cog"]), safe="")
        tt_headers = {"Accept-Encoding": "identity", "Connection": "close"}
        for driver, (ext, _mime, _magic) in FORMATS.items():
            for z, ts in tiles.items():
                label = f"{driver} z{z}"
                row: dict = {"format": driver, "zoom": z,
                             "native": z == zinfo["maxzoom"], "tiles": len(ts)}
                reqs = request_list(ts, args.requests)
                log(f"[{label}] bare rio-tiler loop ...")
                row["bare"] = bare_loop(inst["cog"], ts, args.requests, driver, reuse=False)
                row["bare_one_reader"] = bare_loop(inst["cog"], ts, args.requests, driver,
                                                   reuse=True)
                row["bare_procs"] = bare_processes(inst["cog"], ts, args.requests, driver,
                                                   WORKERS)

                def ours_path(t, ext=ext) -> str:
                    return f"/tiles/{inst['scene_id']}/{t[2]}/{t[0]}/{t[1]}.{ext}"

                paths, warm = [ours_path(t) for t in reqs], [ours_path(t) for t in ts]
                log(f"[{label}] ours, 1 and {WORKERS} clients ...")
                row["ours_1_client"] = http_load(ours.port, ours_headers, paths, 1, driver, warm,
                                                 ours.proc.pid)
                row["ours"] = http_load(ours.port, ours_headers, paths, WORKERS, driver, warm,
                                        ours.proc.pid)
                row["ours"]["per_worker_tiles_per_s"] = round(
                    row["ours"]["tiles_per_s"] / WORKERS, 2)
                row["etag_304"] = etag_hits(ours.port, ours_headers, paths[0], args.requests)
                if titiler is not None:

                    def tt_path(t, ext=ext) -> str:
                        return (f"/cog/tiles/WebMercatorQuad/{t[2]}/{t[0]}/{t[1]}.{ext}"
                                f"?url={cog_q}&tilesize=256")

                    log(f"[{label}] TiTiler, {WORKERS} clients ...")
                    row["titiler"] = http_load(titiler.port, tt_headers,
                                               [tt_path(t) for t in reqs], WORKERS, driver,
                                               [tt_path(t) for t in ts], titiler.proc.pid)
                row["ratios"] = ratios(row)
                res["rows"].append(row)
        res["notes"].append(same_bytes_note(ours.port, ours_headers, inst, tiles))
    finally:
        for s in servers:
            s.stop()


def same_bytes_note(port: int, headers: dict, inst: dict, tiles: dict) -> str:
    """Does the endpoint send what the bare loop renders (same tile, same bytes)?"""
    import rasterio
    from rio_tiler.io import Reader

    from geomap.imagery import GDAL_ENV

    z, ts = next(iter(tiles.items()))
    x, y, _ = ts[0]
    client = Client(port, headers)
    try:
        with rasterio.Env(**GDAL_ENV), Reader(str(inst["cog"])) as src:
            img = src.tile(x, y, z, tilesize=256, indexes=(1, 2, 3))
            same = []
            for driver, (ext, _m, _g) in FORMATS.items():
                _dt, _s, _h, body = client.get(f"/tiles/{inst['scene_id']}/{z}/{x}/{y}.{ext}")
                same.append(f"{driver} "
                            + ("identical" if body == img.render(
                                img_format=driver, add_mask=driver != "JPEG") else "DIFFERENT"))
    finally:
        client.close()
    return f"tile {z}/{x}/{y}, endpoint vs bare render: " + ", ".join(same)


def ratios(row: dict) -> dict:
    bare, ours = row["bare"]["tiles_per_s"], row["ours"]
    out = {"per_worker_vs_bare": round(ours["per_worker_tiles_per_s"] / bare, 3),
           "one_client_vs_bare": round(row["ours_1_client"]["tiles_per_s"] / bare, 3),
           "bare_vs_one_reader": round(bare / row["bare_one_reader"]["tiles_per_s"], 3),
           "ours_vs_bare_procs": round(ours["tiles_per_s"] / row["bare_procs"]["tiles_per_s"],
                                       3)}
    if "titiler" in row:
        out["ours_vs_titiler"] = round(ours["tiles_per_s"] / row["titiler"]["tiles_per_s"], 3)
        out["ours_vs_titiler_p50"] = round(row["titiler"]["p50_ms"] / ours["p50_ms"], 3)
    return out


# -- output -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(res: dict, args) -> None:
    sc, env = res["scene"], res["environment"]
    print(f"\n=== imagery tiles: {args.size:,} x {args.size:,} px RGB uint8 -> "
          f"{sc['working_copy']} working copy, {sc['compression']} COG "
          f"({sc['cog_bytes'] / 1e6:,.0f} MB), EPSG:{EPSG}, {sc['res_m']:g} m; "
          f"zooms {sc['minzoom']}-{sc['maxzoom']} ===")
    print(f"{args.requests} requests per row over {args.tiles} distinct tiles per zoom, after "
          f"one untimed pass; 256 px tiles; {env['cpus']} CPUs; rio-tiler {env['rio-tiler']}, "
          f"GDAL {env['gdal']}, gunicorn {env['gunicorn']}"
          + (f", titiler.core {env['titiler.core']} / uvicorn {env['uvicorn']}"
             if env.get("titiler.core") else ""))
    head = f"{'format zoom':<11}  {'measure':<44}  {'tiles/s':>8}  {'p50 ms':>7}  " \
           f"{'p95 ms':>7}  {'cpu ms/tile':>11}  {'bytes/tile':>10}"
    print(head)
    print("-" * len(head))
    for row in res["rows"]:
        fz = f"{row['format']} z{row['zoom']}" + ("*" if row["native"] else "")
        lines = [("bare rio-tiler loop, 1 thread (open per tile)", row["bare"]),
                 ("bare rio-tiler loop, 1 thread (one Reader)", row["bare_one_reader"]),
                 (f"bare rio-tiler loop, {WORKERS} processes at once", row["bare_procs"]),
                 (f"ours gunicorn -w {WORKERS}, 1 client", row["ours_1_client"]),
                 (f"ours gunicorn -w {WORKERS}, {WORKERS} clients", row["ours"]),
                 (f"  ours per worker (/{WORKERS})",
                  {"tiles_per_s": row["ours"]["per_worker_tiles_per_s"]})]
        if "titiler" in row:
            lines.append((f"TiTiler uvicorn --workers {WORKERS}, {WORKERS} clients",
                          row["titiler"]))
        lines.append(("ours ETag hit (If-None-Match -> 304), 1 client", row["etag_304"]))
        for label, d in lines:
            size = f"{d['bytes_per_tile']:,}" if "bytes_per_tile" in d else ""
            p50 = f"{d['p50_ms']:.1f}" if "p50_ms" in d else ""
            p95 = f"{d['p95_ms']:.1f}" if "p95_ms" in d else ""
            cpu = f"{d['cpu_ms_per_tile']:.1f}" if "cpu_ms_per_tile" in d else ""
            print(f"{fz:<11}  {label:<44}  {d['tiles_per_s']:>8.1f}  {p50:>7}  {p95:>7}  "
                  f"{cpu:>11}  {size:>10}")
            fz = ""
    print("(* native zoom; cpu ms/tile: CPU the renderer spent per tile, a server's in all "
          "its processes)")
    print("ratios against the targets:")
    for row in res["rows"]:
        r = row["ratios"]
        fz = f"{row['format']} z{row['zoom']}"
        pw = r["per_worker_vs_bare"]
        parts = [f"per worker / bare loop {pw:.3f}x "
                 f"(>= {TARGET_PER_WORKER}x: {verdict(pw >= TARGET_PER_WORKER)})",
                 f"1 client / bare loop {r['one_client_vs_bare']:.2f}x",
                 f"{WORKERS} clients / bare loop in {WORKERS} processes "
                 f"{r['ours_vs_bare_procs']:.2f}x"]
        if "ours_vs_titiler" in r:
            tt = r["ours_vs_titiler"]
            parts.append(f"ours / TiTiler {tt:.3f}x tiles/s, {r['ours_vs_titiler_p50']:.2f}x "
                         f"p50 (>= {TARGET_VS_TITILER:g}x: {verdict(tt >= TARGET_VS_TITILER)})")
        e = row["etag_304"]["p50_ms"]
        parts.append(f"304 p50 {e:.1f} ms (< {TARGET_304_MS:g} ms: {verdict(e < TARGET_304_MS)})")
        print(f"  {fz:<9} " + "; ".join(parts))
    print(f"TiTiler: {res['titiler']}")
    if env["cpus"] and env["cpus"] <= WORKERS:
        print(f"note: {env['cpus']} CPUs for {WORKERS} server workers and the client threads: "
              "the 2-client rows share the CPUs with the client")
    la = res["load_average"]
    if max(la["start"][0], la["end"][0]) > 0.5:
        print(f"note: load average (1 min) {la['start'][0]:.2f} at the start (before this run "
              f"started anything), {la['end'][0]:.2f} at the end: other processes share the "
              "machine, numbers are noisy")
    for note in res["notes"]:
        print(f"note: {note}")
    for e in res["errors"]:
        print(f"ERROR: {e}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=16384, help="image width and height in px "
                   "(default 16384)")
    p.add_argument("--requests", type=int, default=300,
                   help="timed requests per measurement (default 300)")
    p.add_argument("--tiles", type=int, default=60,
                   help="distinct tiles per zoom (default 60)")
    p.add_argument("--no-titiler", action="store_true", help="skip the TiTiler comparison")
    p.add_argument("--working-copy", choices=("lossless", "jpeg"), default="lossless",
                   help="the scene's working copy (default lossless, geomap's default)")
    p.add_argument("--out", type=Path, default=OUT, help=f"JSON results (default {OUT})")
    a = p.parse_args(argv)
    if a.size < 1024 or a.requests < 1 or a.tiles < 1:
        p.error("--size must be at least 1024, --requests and --tiles positive")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.monotonic()
    load_start = os.getloadavg()
    res: dict = {"args": {"size": args.size, "requests": args.requests, "tiles": args.tiles,
                          "workers": WORKERS, "no_titiler": args.no_titiler,
                          "working_copy": args.working_copy},
                 "rows": [], "notes": [], "errors": []}
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="geomap-bench-tiles-") as tmp:
            measure(args, Path(tmp), res)
    except Exception as e:  # noqa: BLE001 - reported and recorded
        if not isinstance(e, BenchError):
            traceback.print_exc()
        res["errors"].append(f"{type(e).__name__}: {e}")
        failed = True
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    res["load_average"] = {"start": [round(x, 2) for x in load_start],
                           "end": [round(x, 2) for x in os.getloadavg()]}
    if res["rows"] and "environment" in res:
        print_table(res, args)
    elif failed:
        print(f"\nFAILED: {res['errors'][-1]}")
    print(f"total time {res['elapsed_s']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
