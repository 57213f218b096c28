"""Benchmark the map page and the testimonies API against a folium baseline, in one run.

    python bench/run.py [--sizes 100000,250000] [--backends sqlite,postgis] [--repeat 20]
                        [--tour-repeat 3] [--draws 3] [--no-browser]

For each size N and each backend: a fresh demo instance (reference data + N synthetic
testimonies) in a temporary folder -- SQLite, or a database on a throw-away PostgreSQL +
PostGIS cluster (tests/pg.py, a local socket only) -- served by waitress on a loopback port.
Measured:

* the viewport tour: exactly the /api/testimonies requests the page sends (bbox, grid and
  limit computed as geomap-map.js does for a 1280x860 map, gzip accepted as a browser does):
  the first viewport, then zoom 6 (country), 8, 10, 12 and 14 at camps and at random places,
  each view also panned half a screen east. p50/p95/max server time per zoom and overall,
  bytes per response, the largest response, grid or points.
* ours in Chromium: GET /, first draw (navigation start until clusters/markers are in the
  DOM), bytes of the whole page load.
* baseline (SQLite runs): a folium map with the same testimonies embedded through
  `folium.plugins.FastMarkerCluster`, assets localised like ours, served by the same server --
  generation time, page bytes, first draw.

Ends with a summary against issue 12's targets (every viewport request p95 < 100 ms at 100,000
and 250,000 on both backends; first draw < 1 s at 100,000; page < 300 KB) and writes everything
to bench/out/map.json. Exit status: 0 on success; 1 if something failed (an exception, an HTTP
error, a browser draw that never happened, or our page contacting a host other than
127.0.0.1). Targets missed are reported, not an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "map.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # no internet here: make any non-loopback lookup fail at once (still counted)
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 860}
MAP_SIZE = (1280, 860)  # the tour's map, in CSS pixels
TOUR_ZOOMS = (6, 8, 10, 12, 14)
TOUR_PLACES = 4  # camps and as many random places per zoom
TARGET_P95_MS, TARGET_DRAW_MS, TARGET_PAGE_BYTES = 100.0, 1000.0, 300_000
BASELINE_PATH = "/bench/baseline"
DRAW_TIMEOUT_MS = 120_000
BASELINE_NAME = "folium FastMarkerCluster"

# in-page: once clusters/markers are in the DOM, when (ms since navigation start) and how much
# had been downloaded by then
_DRAWN_JS = """(sel) => {
  const n = document.querySelectorAll(sel).length;
  if (n === 0) return null;
  const now = performance.now();
  let bytes = 0, requests = 0;
  for (const e of performance.getEntriesByType("navigation").concat(
                  performance.getEntriesByType("resource"))) {
    if (e.responseEnd > 0 && e.responseEnd <= now) { bytes += e.encodedBodySize; requests++; }
  }
  const s = window.geomap && window.geomap.state;
  const nav = performance.getEntriesByType("navigation")[0];
  const api = performance.getEntriesByType("resource").find(
    (e) => e.name.includes("/api/testimonies") && e.responseEnd > 0);
  return {t: now, elements: n, bytes: bytes, requests: requests,
          testimonies: s ? s.testimonies : null, matched: s ? s.testimoniesMatched : null,
          dcl: nav && nav.domContentLoadedEventEnd > 0 ? nav.domContentLoadedEventEnd : null,
          api_start: api ? api.startTime : null, api_end: api ? api.responseEnd : null};
}"""
# everything the page downloaded (once no request was open for a while)
_TOTAL_BYTES_JS = """() => performance.getEntriesByType("navigation").concat(
  performance.getEntriesByType("resource")).reduce((a, e) => a + e.encodedBodySize, 0)"""
OURS_SELECTOR = ".gm-cluster, .leaflet-marker-icon"
BASELINE_SELECTOR = ".marker-cluster, .leaflet-marker-icon"


# -- small helpers ------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Progress:
    """`stage: done/total` lines on stderr, at most about once a second per stage."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self.last.get(stage, 0.0) >= 1.0:
            self.last[stage] = now
            log(f"{self.prefix}{stage}: {done}/{total}")


def nearest_rank(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def summary_ms(seconds: list[float]) -> dict:
    ms = [x * 1000 for x in seconds]
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(nearest_rank(ms, 0.95), 2),
            "min_ms": round(min(ms), 2), "n": len(ms)}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:.3g}x" if r < 10 else f"{r:,.0f}x"


def fmt_bytes(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,} B"


def fmt_ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f} ms"


def fmt_timing(d: dict | None) -> str:
    if not d:
        return "n/a"
    return f"{d['median_ms']:,.1f} ms (p95 {d['p95_ms']:,.1f})"


class BenchError(Exception):
    pass


class _QueueWarnings(logging.Filter):
    """Counts waitress's "Task queue depth is N" warnings (all worker threads busy) instead of
    interleaving them with the progress lines."""

    def __init__(self):
        super().__init__()
        self.count = self.max_depth = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.count += 1
        m = re.search(r"(\d+)", record.getMessage())
        self.max_depth = max(self.max_depth, int(m.group(1)) if m else 0)
        return False

    def take(self) -> dict:
        out = {"count": self.count, "max_depth": self.max_depth}
        self.count = self.max_depth = 0
        return out


QUEUE_WARNINGS = _QueueWarnings()
logging.getLogger("waitress.queue").addFilter(QUEUE_WARNINGS)


# -- instance and server ------------------------------------------------------------------------
def build_instance(tmp: Path, n: int, database_url: str | None = None):
    """A demo instance in `tmp` (SQLite there, or the PostgreSQL database `database_url`)."""
    from dataclasses import replace

    from geomap.config import load_settings
    from geomap.demo import load_reference_data, load_synthetic_testimonies
    from geomap.store import Store

    settings = load_settings(tmp / "instance")
    if database_url:
        settings = replace(settings, database_url=database_url)
    store = Store.for_instance(settings)
    t0 = time.perf_counter()
    c0 = time.process_time()
    log(f"[N={n}] reference data ...")
    for line in load_reference_data(store):
        log(f"[N={n}]   {line}")
    t1 = time.perf_counter()
    inserted = load_synthetic_testimonies(store, n, progress=Progress(f"[N={n}] "))
    t2 = time.perf_counter()
    if database_url:  # what autovacuum does soon after a bulk load: statistics, visibility map
        from sqlalchemy import create_engine

        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()
    log(f"[N={n}] {inserted} testimonies stored")
    return settings, store, {"reference_s": round(t1 - t0, 2), "testimonies_s": round(t2 - t1, 2),
                             "cpu_s": round(time.process_time() - c0, 2), "inserted": inserted}


@dataclass
class Baseline:
    html: bytes = b""
    info: dict = field(default_factory=dict)


BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-not-secret"


def add_bench_user(store) -> tuple[str, list[str]]:
    """A researcher account enrolled in TOTP: (TOTP secret, recovery codes)."""
    from geomap import accounts as acc
    from geomap.policy import Role
    from geomap.store.accounts import AccountStore

    accounts = AccountStore(store)
    user = accounts.add(BENCH_USER, Role.RESEARCHER, acc.hash_password(BENCH_PASSWORD), "bench")
    secret, codes = acc.new_totp_secret(), acc.new_recovery_codes()
    accounts.enrol_totp(user.id, secret, 0, [acc.recovery_hash(c) for c in codes], "bench")
    return secret, codes


def signed_in_context(browser, base: str, recovery_code: str):
    """A browser context signed in through the pages (a recovery code: the TOTP code of this
    30 s step went to the HTTP client already, and each code works once)."""
    ctx = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", BENCH_USER)
    page.fill("input[name=password]", BENCH_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/mfa")
    page.fill("input[name=code]", recovery_code)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    page.close()
    return ctx


def sign_in_http(host: str, port: int, secret: str) -> str:
    """Sign in through the real pages (password, then TOTP); returns the session token."""
    import pyotp

    conn = http.client.HTTPConnection(host, port, timeout=60)
    cookie = ""
    jar: dict[str, str] = {}

    def req(method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        nonlocal cookie
        from urllib.parse import urlencode

        # every cookie the app sets (the sign-in form's CSRF token travels in its own)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, value = v.split(";", 1)[0].partition("=")
                jar[name] = value
                if name == "__Host-geomap":
                    cookie = value
        return resp.status, text

    def token(html: str) -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        if m is None:
            raise BenchError("no CSRF token in: " + html[:300])
        return m.group(1)

    _, html = req("GET", "/login")
    status, _body = req("POST", "/login", {"username": BENCH_USER, "password": BENCH_PASSWORD,
                                       "csrf_token": token(html)})
    if status != 302:
        text = re.sub(r"<[^>]+>", " ", _body)
        raise BenchError(f"bench password step failed (HTTP {status}): {' '.join(text.split())[-400:]}")
    _, html = req("GET", "/login/mfa")
    status, _ = req("POST", "/login/mfa", {"code": pyotp.TOTP(secret).now(),
                                           "csrf_token": token(html)})
    conn.close()
    if status != 302 or not cookie:
        raise BenchError(f"bench sign-in failed (HTTP {status})")
    return cookie


def make_app(settings, store, baseline: Baseline):
    from flask import Response, g

    from geomap.web import create_app
    from geomap.web.pages import with_nonce

    app = create_app(settings, store)

    def baseline_page():
        # under the same Content-Security-Policy as ours: its inline scripts get the nonce
        html = with_nonce(baseline.html.decode("utf-8"), g.csp_nonce)
        return Response(html, mimetype="text/html")

    # registered before the first request (Flask refuses afterwards); filled in later
    app.add_url_rule(BASELINE_PATH, "bench_baseline", baseline_page)
    return app


def serve(app):
    """waitress on a free loopback port in a daemon thread; returns (host, port, stop)."""
    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True, name="waitress")
    thread.start()

    def stop() -> None:
        # server.close() from this thread pulls the sockets out from under the running loop
        # (EBADF in the loop and in workers); instead let the workers finish, then close every
        # channel from the loop's own thread, which ends the loop
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(10)
        if thread.is_alive():
            log("waitress did not stop within 10 s; closing it anyway")
            server.close()

    return "127.0.0.1", server.effective_port, stop


# -- HTTP timing --------------------------------------------------------------------------------
class Client:
    """One keep-alive connection; reconnects if the server closed it."""

    def __init__(self, host: str, port: int, session: str):
        self.host, self.port, self.session = host, port, session
        self.conn = http.client.HTTPConnection(host, port, timeout=300)

    def get(self, path: str, encoding: str = "identity"
            ) -> tuple[float, bytes, http.client.HTTPResponse]:
        for attempt in (0, 1):
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path, headers={
                    "Accept-Encoding": encoding, "Cookie": f"__Host-geomap={self.session}"})
                resp = self.conn.getresponse()
                body = resp.read()
                dt = time.perf_counter() - t0
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
                if attempt:
                    raise
        if resp.status != 200:
            raise BenchError(f"GET {path}: HTTP {resp.status}: {body[:300]!r}")
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        return dt, body, resp

    def close(self) -> None:
        self.conn.close()


def time_get(client: Client, path: str, repeat: int, geojson: bool = False) -> dict:
    client.get(path)  # warm-up (first GET / also warps the basemap once)
    times, body = [], b""
    for _ in range(repeat):
        dt, body, _resp = client.get(path)
        times.append(dt)
    out = {"path": path, "bytes": len(body), **summary_ms(times)}
    if geojson:
        doc = json.loads(body)
        out["numberReturned"] = doc.get("numberReturned")
        out["numberMatched"] = doc.get("numberMatched")
    return out


# -- the viewport tour: what the page asks -------------------------------------------------
def _mercator(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Leaflet's EPSG:3857 pixel coordinates at zoom z (256 px tiles)."""
    size = 256 * 2 ** z
    s = math.sin(math.radians(max(-85.0511287798, min(85.0511287798, lat))))
    return (lon + 180) / 360 * size, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size


def _unmercator(x: float, y: float, z: int) -> tuple[float, float]:
    size = 256 * 2 ** z
    lon = x / size * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / size))))
    return lon, lat


def _js_number(v: float) -> str:
    """String(v) in JavaScript, for the powers of two the page sends."""
    return str(int(v)) if float(v).is_integer() else repr(v)


def view_request(lon: float, lat: float, z: int, limit: int,
                 size: tuple[int, int] = MAP_SIZE) -> str:
    """The /api/testimonies query geomap-map.js sends for a map of `size` px centred on
    (lon, lat) at zoom z: bbox from map.getBounds(), the grid cell about 64 px wide snapped to
    a power of two, the page's limit."""
    cx, cy = _mercator(lon, lat, z)
    west, north = _unmercator(cx - size[0] / 2, cy - size[1] / 2, z)
    east, south = _unmercator(cx + size[0] / 2, cy + size[1] / 2, z)
    bbox = ",".join(f"{v:.5f}" for v in (max(-180, west), max(-90, south), min(180, east),
                                          min(90, north)))
    cell = 2.0 ** round(math.log2(64 * (east - west) / size[0]))
    cell = min(8.0, max(2.0 ** -13, cell))
    from urllib.parse import quote

    return f"bbox={quote(bbox, safe='')}&limit={limit}&grid={_js_number(cell)}"


def tour_views(store, seed: int = 12) -> list[tuple[str, int, float, float]]:
    """(label, zoom, lon, lat): the first view, then each zoom at camps and at random places
    on land, each also panned half a screen east."""
    import random

    from geomap.mapview import CENTER, ZOOM
    from geomap.policy import SYSTEM

    rng = random.Random(seed)
    camps = [s.geometry.centroid for s in store.sites(SYSTEM) if s.geometry is not None]
    views = [("first viewport", ZOOM, CENTER[1], CENTER[0])]
    for z in TOUR_ZOOMS:
        places = [("camp", p.x, p.y) for p in rng.sample(camps, min(TOUR_PLACES, len(camps)))]
        places += [("random", rng.uniform(124.8, 130.2), rng.uniform(38.2, 42.4))
                   for _ in range(TOUR_PLACES)]
        if z == 6:  # the whole country, and pans from it
            places = [("country", 127.4, 40.3)] + places[:2]
        for kind, lon, lat in places:
            views.append((f"z{z} {kind}", z, lon, lat))
            pan_lon, _ = _unmercator(_mercator(lon, lat, z)[0] + MAP_SIZE[0] / 2,
                                     _mercator(lon, lat, z)[1], z)
            views.append((f"z{z} {kind} panned", z, pan_lon, lat))
    return views


def run_tour(client: Client, store, limit: int, repeat: int) -> dict:
    """Every tour view `repeat` times (after one warm-up pass), gzip accepted."""
    api = "/api/testimonies"
    views = [(label, z, f"{api}?{view_request(lon, lat, z, limit)}")
             for label, z, lon, lat in tour_views(store)]
    for _, _, path in views:
        client.get(path, "gzip")
    cpu0 = time.process_time()
    per_view = []
    for label, z, path in views:
        times = []
        for _ in range(repeat):
            dt, body, _resp = client.get(path, "gzip")
            times.append(dt)
        import gzip as _gzip

        raw = _gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        doc = json.loads(raw)
        per_view.append({"label": label, "zoom": z, "path": path, "times_ms": [
            round(t * 1000, 2) for t in times], "bytes": len(body), "raw_bytes": len(raw),
            "aggregated": doc.get("aggregated"), "features": len(doc["features"]),
            "matched": doc.get("numberMatched")})
    groups: dict[str, list[dict]] = {}
    for v in per_view:
        key = "first viewport" if v["label"] == "first viewport" else f"z{v['zoom']}"
        groups.setdefault(key, []).append(v)
    groups["all"] = per_view

    def summarise(vs: list[dict]) -> dict:
        ms = [t for v in vs for t in v["times_ms"]]
        big = max(vs, key=lambda v: v["bytes"])
        return {"views": len(vs), "requests": len(ms),
                "median_ms": round(statistics.median(ms), 2),
                "p95_ms": round(nearest_rank(ms, 0.95), 2), "max_ms": round(max(ms), 2),
                "mean_bytes": int(statistics.mean(v["bytes"] for v in vs)),
                "largest_bytes": big["bytes"], "largest_raw_bytes": big["raw_bytes"],
                "largest": big["label"], "grid_views": sum(1 for v in vs if v["aggregated"]),
                "max_features": max(v["features"] for v in vs),
                "max_matched": max(v["matched"] or 0 for v in vs)}

    return {"by_zoom": {k: summarise(v) for k, v in groups.items()}, "views": per_view,
            "cpu_s": round(time.process_time() - cpu0, 2)}


# -- the baseline -------------------------------------------------------------------------------
# folium's asset names that geomap's table does not know, for the same local files
ASSET_ALIASES = {"markerclusterdefaultcss": "markerclusterdefault"}
_EXTERNAL_ASSET = re.compile(r"""(<(?:script|link)\b[^>]*?(?:src|href)=["'])(https?://[^"']+)""")
_VENDOR_BY_NAME = {
    "leaflet.js": "vendor/leaflet/leaflet.js",
    "leaflet.css": "vendor/leaflet/leaflet.css",
    "leaflet.markercluster.js": "vendor/markercluster/leaflet.markercluster.js",
    "MarkerCluster.css": "vendor/markercluster/MarkerCluster.css",
    "MarkerCluster.Default.css": "vendor/markercluster/MarkerCluster.Default.css",
}


BASELINE_CALLBACK = """function (row) {
    return L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 4, weight: 1, color: "#222", fillColor: "#ffd400", fillOpacity: 0.9});
}"""


def _alias_assets(root) -> list[str]:
    from folium.elements import JSCSSMixin

    from geomap.layers.assets import _walk

    renamed = []
    for el in _walk(root):
        if isinstance(el, JSCSSMixin):
            for attr in ("default_js", "default_css"):
                pairs = getattr(el, attr)
                if any(n in ASSET_ALIASES for n, _ in pairs):
                    renamed += [f"{type(el).__name__}.{n}" for n, _ in pairs if n in ASSET_ALIASES]
                    setattr(el, attr, [(ASSET_ALIASES.get(n, n), u) for n, u in pairs])
    return renamed


def _rewrite_external(html: str, static_url) -> tuple[str, list[str]]:
    """Last resort: point remaining CDN <script>/<link> URLs at our vendor copies by file name."""
    left: list[str] = []

    def sub(m: re.Match) -> str:
        url = m.group(2)
        local = _VENDOR_BY_NAME.get(urlparse(url).path.rsplit("/", 1)[-1])
        if local is None:
            left.append(url)
            return m.group(0)
        return m.group(1) + static_url(local)

    return _EXTERNAL_ASSET.sub(sub, html), left


def build_baseline(store, app) -> tuple[bytes, dict]:
    import folium
    from branca.element import Figure
    from flask import url_for
    from folium.plugins import FastMarkerCluster

    from geomap.basemap import ATTRIBUTION, ensure_basemap
    from geomap.errors import AssetNotLocal
    from geomap.layers.assets import localise
    from geomap.layers.basemap import BasemapLayer
    from geomap.mapview import CENTER, ZOOM
    from geomap.policy import SYSTEM
    from geomap.store import TestimonyFilter

    t0 = time.perf_counter()
    rows, _total = store.testimony_rows(TestimonyFilter(), SYSTEM, limit=None)
    points = [[r["miny"], r["minx"]] for r in rows]
    t1 = time.perf_counter()
    with app.test_request_context("/"):
        def static_url(path: str) -> str:
            return url_for("static", filename=path)

        basemap = ensure_basemap(app.config["GEOMAP_SETTINGS"].basemap_dir)
        basemap_url = url_for("tiles.basemap_tile", z=0, x=0, y=0).replace("/0/0/0.",
                                                                             "/{z}/{x}/{y}.")
        t2 = time.perf_counter()
        # same view and background as our page; no tile server (there is none offline)
        m = folium.Map(location=CENTER, zoom_start=ZOOM, tiles=None, control_scale=True,
                       prefer_canvas=True, minZoom=5, maxZoom=18)
        BasemapLayer(basemap_url, basemap.bounds, "relief", ATTRIBUTION,
                     basemap.maxzoom).add_to(m)
        # folium's default callback draws L.AwesomeMarkers icons, a plugin geomap does not ship
        # (localise drops it as unused); draw the same canvas circle markers as our page instead
        FastMarkerCluster(points, callback=BASELINE_CALLBACK).add_to(m)
        fig = m.get_root()  # folium puts a Map in a Figure
        assert isinstance(fig, Figure)
        notes = []
        try:
            localise(fig, static_url)
        except AssetNotLocal as e:
            notes.append(f"localise: {e}")
            renamed = _alias_assets(fig)
            notes.append(f"aliased {renamed} to geomap's names for the same local files")
            localise(fig, static_url)
        t3 = time.perf_counter()
        html = fig.render()
        t4 = time.perf_counter()
        html, left = _rewrite_external(html, static_url)
    if left:
        notes.append(f"external asset URLs left in the baseline page: {left}")
    body = html.encode("utf-8")
    info = {
        "points": len(points), "bytes": len(body),
        "read_points_ms": round((t1 - t0) * 1000, 1),
        "build_ms": round((t3 - t2) * 1000, 1), "render_ms": round((t4 - t3) * 1000, 1),
        "generate_ms": round((t4 - t2) * 1000, 1), "notes": notes,
    }
    return body, info


# -- browser ------------------------------------------------------------------------------------
class _Quiet:
    """Open requests of one page, to wait until none are open and none started for a while."""

    def __init__(self):
        self.open: set[str] = set()
        self.last = time.monotonic()

    def started(self, r) -> None:
        self.open.add(r.url)
        self.last = time.monotonic()

    def ended(self, r) -> None:
        self.open.discard(r.url)
        self.last = time.monotonic()

    def wait(self, page, quiet_ms: int, timeout_ms: int) -> bool:
        end = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < end:
            if not self.open and time.monotonic() - self.last >= quiet_ms / 1000:
                return True
            page.wait_for_timeout(50)  # lets Playwright deliver the events
        return False


_OBSERVE_JS = """(() => {
  const drawn = %s;
  const check = () => { if (!window.__gmDrawn) { const r = drawn(%s); if (r) window.__gmDrawn = r; } };
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();"""


def first_draw(ctx, url: str, selector: str, runs: int, api_prefix: str | None = None) -> dict:
    """Median over `runs` cold loads (fresh context each, after one discarded warm-up load)."""
    walls, inpage, draws, api_urls = [], [], [], []
    external: set[str] = set()
    errors: list[str] = []
    requests_total = 0
    for i in range(runs + 1):
        # one signed-in context, a cold HTTP cache per load
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.clearBrowserCache")
        # the first draw is noticed in the page (MutationObserver, installed through DevTools,
        # so our CSP, which forbids eval, does not get in the way) and read from Python
        page.add_init_script(_OBSERVE_JS % (_DRAWN_JS, json.dumps(selector)))
        reqs: list[str] = []
        net = _Quiet()
        page.on("request", lambda r, reqs=reqs: reqs.append(r.url))
        page.on("request", net.started)
        page.on("requestfinished", net.ended)
        page.on("requestfailed", net.ended)
        page.on("console", lambda m: m.type == "error" and errors.append(
            f"console: {m.text} [{m.location.get('url', '')}]"))
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("requestfailed",
                lambda r: errors.append(f"requestfailed: {r.url} ({r.failure})"))
        try:
            t0 = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=DRAW_TIMEOUT_MS)
            deadline = t0 + DRAW_TIMEOUT_MS / 1000
            while (drawn := page.evaluate("() => window.__gmDrawn || null")) is None:
                if time.perf_counter() > deadline:
                    raise BenchError(f"{url}: nothing drawn within {DRAW_TIMEOUT_MS} ms")
                page.wait_for_timeout(5)
            wall = time.perf_counter() - t0
            # let late requests and errors show up (not timed). Not Playwright's "networkidle":
            # it never came for the 50,000-marker baseline although every request had finished
            if not net.wait(page, quiet_ms=500, timeout_ms=30_000):
                errors.append(f"requests still open 30 s after first draw: {sorted(net.open)}")
            drawn["total_bytes"] = page.evaluate(_TOTAL_BYTES_JS)
        finally:
            page.close()
        requests_total = len(reqs)
        external.update(u for u in reqs if urlparse(u).scheme in ("http", "https", "ws", "wss")
                        and urlparse(u).hostname != "127.0.0.1")
        if api_prefix:
            api_urls += [u for u in reqs if urlparse(u).path == api_prefix]
        if i == 0:
            continue  # warm-up: browser process, disk cache of the OS, JIT
        walls.append(wall)
        inpage.append(drawn["t"] / 1000)
        draws.append(drawn)
    last = draws[-1]

    def med(key: str):
        values = [d[key] for d in draws if d.get(key) is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "url": url, "wall": summary_ms(walls), "in_page": summary_ms(inpage),
        "elements_at_first_draw": last["elements"],
        "bytes_at_first_draw": int(statistics.median(d["bytes"] for d in draws)),
        "bytes_per_load": int(statistics.median(d["total_bytes"] for d in draws)),
        "dom_content_loaded_ms": med("dcl"),
        "testimonies_request_start_ms": med("api_start"),
        "testimonies_response_end_ms": med("api_end"),
        "requests_at_first_draw": last["requests"], "requests_per_load": requests_total,
        "testimonies_drawn": last["testimonies"], "testimonies_matched": last["matched"],
        "external_requests": sorted(external), "console_errors": sorted(set(errors)),
        "api_urls": sorted(set(api_urls)),
    }


def _try_draw(res: dict, who: str, ctx, url: str, selector: str, runs: int,
              api_prefix: str | None = None) -> dict | None:
    try:
        return first_draw(ctx, url, selector, runs, api_prefix)
    except Exception as e:  # noqa: BLE001 - recorded; the other measurements still count
        res["errors"].append(f"first draw, {who}: {type(e).__name__}: {e}".splitlines()[0])
        log(res["errors"][-1])
        return None


# -- one size -----------------------------------------------------------------------------------
def bench_size(n: int, backend: str, repeat: int, tour_repeat: int, draws: int, browser,
               cluster=None) -> dict:
    res: dict = {"n": n, "backend": backend, "errors": []}
    db_name = database_url = None
    if backend == "postgis":
        db_name, database_url = cluster.new_database()
    tag = f"[N={n} {backend}]"
    try:
        with tempfile.TemporaryDirectory(prefix=f"geomap-bench-{n}-") as tmp:
            settings, store, res["build"] = build_instance(Path(tmp), n, database_url)
            try:
                _bench_instance(res, tag, settings, store, repeat, tour_repeat, draws, browser,
                                with_baseline=backend == "sqlite")
            finally:
                store.close()
    finally:
        if db_name:
            cluster.drop(db_name)
    return res


def _bench_instance(res: dict, tag: str, settings, store, repeat: int, tour_repeat: int,
                    draws: int, browser, with_baseline: bool) -> None:
    baseline = Baseline()
    secret, codes = add_bench_user(store)
    app = make_app(settings, store, baseline)
    host, port, stop = serve(app)
    base = f"http://{host}:{port}"
    session = sign_in_http(host, port, secret)
    client = Client(host, port, session)
    limit = min(settings.max_features, settings.points_per_view)  # what the page sends
    api = "/api/testimonies"
    bl: dict = {}
    try:
        log(f"{tag} timing GET / and the page's other requests ({repeat} each) ...")
        ours: dict = {"page": time_get(client, "/", repeat)}
        for name in ("sites", "boundaries?level=1"):
            ours[f"api_{name.split('?')[0]}"] = time_get(client, f"/api/{name}", repeat, True)
        log(f"{tag} viewport tour ({tour_repeat} requests per view) ...")
        ours["tour"] = run_tour(client, store, limit, tour_repeat)

        if with_baseline:
            log(f"{tag} baseline: {BASELINE_NAME} with the same testimonies ...")
            baseline.html, baseline.info = build_baseline(store, app)
            bl = {**baseline.info, "serve": time_get(client, BASELINE_PATH, repeat)}

        if browser is not None:
            ctx = signed_in_context(browser, base, codes[0])
            log(f"{tag} first draw in Chromium, ours ({draws} loads + warm-up) ...")
            ours["draw"] = _try_draw(res, "ours", ctx, base + "/", OURS_SELECTOR, draws, api)
            if with_baseline:
                log(f"{tag} first draw in Chromium, baseline ({draws} loads + warm-up) ...")
                bl["draw"] = _try_draw(res, "baseline", ctx, base + BASELINE_PATH,
                                       BASELINE_SELECTOR, draws)
            ctx.close()
            if ours["draw"]:
                # the viewport our page asked for on load, timed like the tour's
                page_api = ours["draw"]["api_urls"]
                if page_api:
                    u = urlparse(page_api[0])
                    ours["api_page_viewport"] = time_get(client, f"{u.path}?{u.query}",
                                                         repeat, True)
                if ours["draw"]["external_requests"]:
                    res["errors"].append(
                        f"our page contacted other hosts: {ours['draw']['external_requests']}")
        res["waitress_queue_warnings"] = QUEUE_WARNINGS.take()
        res["ours"], res["baseline"] = ours, bl
    finally:
        client.close()
        stop()


def ratios(res: dict) -> dict:
    o, b = res["ours"], res["baseline"]
    if not b:
        return {}
    od, bd = o.get("draw"), b.get("draw")
    first = o["tour"]["by_zoom"]["first viewport"]["largest_bytes"]
    out = {
        "page_size": ratio(o["page"]["bytes"], b["bytes"]),
        "page_plus_first_viewport_size": ratio(o["page"]["bytes"] + first, b["bytes"]),
        "page_time_vs_generation": ratio(o["page"]["median_ms"], b["generate_ms"]),
        "page_time_vs_serving_prerendered": ratio(o["page"]["median_ms"],
                                                  b["serve"]["median_ms"]),
    }
    if od and bd:
        out["bytes_at_first_draw"] = ratio(od["bytes_at_first_draw"], bd["bytes_at_first_draw"])
        out["bytes_per_load"] = ratio(od["bytes_per_load"], bd["bytes_per_load"])
        out["first_draw_wall"] = ratio(od["wall"]["median_ms"], bd["wall"]["median_ms"])
        out["first_draw_in_page"] = ratio(od["in_page"]["median_ms"], bd["in_page"]["median_ms"])
    return out


def print_tour(tour: dict) -> None:
    print("viewport tour (the page's own requests, gzip): server time per request")
    head = (f"  {'views':<15} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8} {'mean B':>9} "
            f"{'largest B':>10}  grid/views  most features  largest")
    print(head)
    for key, d in tour["by_zoom"].items():
        print(f"  {key:<15} {d['requests']:>4} {d['median_ms']:>6.1f}ms {d['p95_ms']:>6.1f}ms "
              f"{d['max_ms']:>6.1f}ms {d['mean_bytes']:>9,} {d['largest_bytes']:>10,}  "
              f"{d['grid_views']:>4}/{d['views']:<5}  {d['max_features']:>13,}  {d['largest']} "
              f"({d['largest_raw_bytes']:,} B unzipped)")
    print(f"  (bench process CPU during the tour: {tour['cpu_s']} s)")


def print_table(res: dict, repeat: int) -> None:
    o, b, r = res["ours"], res["baseline"], res["ratios"]
    n = res["n"]
    build = res["build"]
    print(f"\n=== N = {n:,} synthetic testimonies on {res['backend']} "
          f"(instance built in {build['reference_s'] + build['testimonies_s']:.1f} s, "
          f"{build['cpu_s']:.1f} s CPU) ===")
    print_tour(o["tour"])
    print(f"other timings: median (p95, nearest rank) of {repeat} keep-alive GETs; "
          f"first draw: median of {(o.get('draw') or {}).get('wall', {}).get('n', 0)} cold loads")
    rows: list[tuple[str, str, str]] = []

    def api_row(label: str, d: dict | None) -> None:
        if d:
            rows.append((label, fmt_bytes(d["bytes"]),
                         f"{fmt_timing(d)}; returned {d['numberReturned']:,} of "
                         f"{d['numberMatched']:,}"))

    rows.append(("ours  GET /", fmt_bytes(o["page"]["bytes"]), fmt_timing(o["page"])))
    api_row("ours  API first viewport as the browser asked", o.get("api_page_viewport"))
    if o.get("api_page_viewport"):
        rows.append(("ours    (browser's request)", "", o["api_page_viewport"]["path"]))
    rows.append(("ours  API sites", fmt_bytes(o["api_sites"]["bytes"]),
                 fmt_timing(o["api_sites"])))
    rows.append(("ours  API boundaries", fmt_bytes(o["api_boundaries"]["bytes"]),
                 fmt_timing(o["api_boundaries"])))
    od, bd = o.get("draw"), b.get("draw")
    if od:
        rows.append(("ours  first draw (wall / in-page)", fmt_bytes(od["bytes_at_first_draw"]),
                     f"{fmt_ms(od['wall']['median_ms'])} / {fmt_ms(od['in_page']['median_ms'])};"
                     f" {od['testimonies_drawn']:,} of {od['testimonies_matched']:,} drawn"))
        rows.append(("ours    in-page breakdown", "",
                     f"DOMContentLoaded {fmt_ms(od['dom_content_loaded_ms'])}, testimonies "
                     f"request {fmt_ms(od['testimonies_request_start_ms'])} -> "
                     f"{fmt_ms(od['testimonies_response_end_ms'])}"))
        rows.append(("ours  whole load (network quiet)", fmt_bytes(od["bytes_per_load"]),
                     f"{od['requests_per_load']} requests"))
    if b:
        rows.append((f"base  {BASELINE_NAME} page", fmt_bytes(b["bytes"]),
                     f"generate {fmt_ms(b['generate_ms'])} (render {fmt_ms(b['render_ms'])}); "
                     f"serve {fmt_timing(b['serve'])}"))
    if bd:
        rows.append(("base  first draw (wall / in-page)", fmt_bytes(bd["bytes_at_first_draw"]),
                     f"{fmt_ms(bd['wall']['median_ms'])} / {fmt_ms(bd['in_page']['median_ms'])};"
                     " drawn " + ("before DOMContentLoaded" if bd["dom_content_loaded_ms"] is None
                                  else f"after DOMContentLoaded ({fmt_ms(bd['dom_content_loaded_ms'])})")))
        rows.append(("base  whole load (network quiet)", fmt_bytes(bd["bytes_per_load"]),
                     f"{bd['requests_per_load']} requests"))
    w0 = max(len(x[0]) for x in rows)
    w1 = max(len(x[1]) for x in rows)
    print(f"{'measure':<{w0}}  {'bytes':>{w1}}  time")
    for label, size, t in rows:
        print(f"{label:<{w0}}  {size:>{w1}}  {t}")
    lines = [] if not r else [
        ("page size: ours / " + BASELINE_NAME, r["page_size"]),
        ("page + first viewport's API: ours / " + BASELINE_NAME,
         r["page_plus_first_viewport_size"]),
        ("page time: ours GET / / baseline generation", r["page_time_vs_generation"]),
        ("page time: ours GET / / baseline serve (pre-rendered)",
         r["page_time_vs_serving_prerendered"]),
    ]
    if "first_draw_wall" in r:
        lines += [("bytes loaded by first draw: ours / baseline", r["bytes_at_first_draw"]),
                  ("bytes per whole page load: ours / baseline", r["bytes_per_load"]),
                  ("first draw (wall): ours / baseline", r["first_draw_wall"]),
                  ("first draw (in-page): ours / baseline", r["first_draw_in_page"])]
    if lines:
        print("ratios (ours / baseline):")
    for label, v in lines:
        print(f"  {label} = {fmt_ratio(v)}")
    if od:
        print(f"browser, ours: {od['requests_per_load']} requests per load, "
              f"{len(od['external_requests'])} to other hosts, "
              f"{len(od['console_errors'])} console errors")
        for e in od["external_requests"] + od["console_errors"]:
            print(f"  ! {e}")
    if bd:
        print(f"browser, baseline: {bd['requests_per_load']} requests per load, "
              f"{len(bd['external_requests'])} to other hosts, "
              f"{len(bd['console_errors'])} console errors")
        for e in bd["external_requests"] + bd["console_errors"]:
            print(f"  ! {e}")
    q = res.get("waitress_queue_warnings")
    if q and q["count"]:
        print(f"waitress (threads=4): {q['count']} 'task queue depth' warnings, "
              f"max depth {q['max_depth']}")
    for note in (b or {}).get("notes", []):
        print(f"note (baseline): {note}")
    for e in res["errors"]:
        print(f"ERROR: {e}")


def print_summary(runs: list[dict]) -> None:
    """One table for issue 12's targets over every size and backend measured."""
    ok_runs = [r for r in runs if "ours" in r]
    if not ok_runs:
        return
    print(f"\n=== summary: the page's viewport requests (p95 target < {TARGET_P95_MS:.0f} ms), "
          f"first draw (< {TARGET_DRAW_MS / 1000:.0f} s at 100,000), page (< "
          f"{TARGET_PAGE_BYTES // 1000} KB) ===")
    print(f"  {'N':>8} {'backend':<8} {'first view p50/p95':>19} {'tour p50/p95/max':>23} "
          f"{'largest':>10} {'first draw':>11} {'folium':>11} {'page':>9} {'whole load':>12}"
          "  verdict")
    for r in ok_runs:
        o, b = r["ours"], r.get("baseline") or {}
        fv, allv = o["tour"]["by_zoom"]["first viewport"], o["tour"]["by_zoom"]["all"]
        od, bd = o.get("draw"), b.get("draw")
        draw = od["wall"]["median_ms"] if od else None
        misses = []
        if allv["p95_ms"] >= TARGET_P95_MS or fv["p95_ms"] >= TARGET_P95_MS:
            misses.append("p95")
        if draw is not None and r["n"] <= 100_000 and draw >= TARGET_DRAW_MS:
            misses.append("draw")
        if o["page"]["bytes"] >= TARGET_PAGE_BYTES:
            misses.append("page")
        print(f"  {r['n']:>8,} {r['backend']:<8} "
              f"{fv['median_ms']:>8.1f}/{fv['p95_ms']:<6.1f}ms "
              f"{allv['median_ms']:>7.1f}/{allv['p95_ms']:.1f}/{allv['max_ms']:<6.1f}ms "
              f"{allv['largest_bytes']:>9,}B {fmt_ms(draw):>11} "
              f"{fmt_ms(bd['wall']['median_ms']) if bd else '-':>11} "
              f"{fmt_bytes(o['page']['bytes']):>9} "
              f"{fmt_bytes(od['bytes_per_load'] if od else None):>12}  "
              f"{'targets met' if not misses else 'MISSED: ' + ', '.join(misses)}")
    print("  page: GET / (the HTML with its map script); whole load: everything the browser "
          "downloads (vendored Leaflet, basemap tiles, boundaries, sites, the first viewport)")


def reprint(path: Path) -> int:
    """The tables of a saved results file, again (--report)."""
    results = json.loads(path.read_text())
    for res in results["sizes"]:
        if "ours" in res:
            print_table(res, results["args"]["repeat"])
        else:
            print(f"\n=== N = {res['n']:,} on {res.get('backend')}: FAILED: {res['errors']}")
    print_summary(results["sizes"])
    return 0


# -- main ---------------------------------------------------------------------------------------
def environment(browser) -> dict:
    import folium
    import waitress

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "folium": folium.__version__, "flask": _dist_version("flask"),
        "waitress": getattr(waitress, "__version__", None) or _dist_version("waitress"),
        "chromium": browser.version if browser is not None else None,
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100000,250000",
                   help="comma-separated testimony counts (default 100000,250000)")
    p.add_argument("--backends", default="sqlite,postgis",
                   help="comma-separated: sqlite, postgis (default both)")
    p.add_argument("--repeat", type=int, default=20, help="requests per endpoint (default 20)")
    p.add_argument("--tour-repeat", type=int, default=3,
                   help="requests per view of the viewport tour (default 3)")
    p.add_argument("--draws", type=int, default=3,
                   help="browser loads per page, after a warm-up (default 3)")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    p.add_argument("--out", type=Path, default=OUT, help=f"JSON results (default {OUT})")
    p.add_argument("--report", type=Path, metavar="JSON",
                   help="print the tables of a saved results file and exit")
    a = p.parse_args(argv)
    try:
        a.sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    except ValueError:
        p.error("--sizes: comma-separated integers, e.g. 2000,50000")
    if not a.sizes or min(a.sizes) < 1 or a.repeat < 1 or a.draws < 1 or a.tour_repeat < 1:
        p.error("--sizes, --repeat, --tour-repeat and --draws must be positive")
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    if not a.backends or set(a.backends) - {"sqlite", "postgis"}:
        p.error("--backends: sqlite, postgis or both")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return reprint(args.report)
    if os.environ.pop("DATABASE_URL", None):  # it would override the temporary instance's DB
        log("DATABASE_URL is set: ignored, the benchmark makes its own databases")
    results: dict = {"args": {"sizes": args.sizes, "backends": args.backends,
                              "repeat": args.repeat, "tour_repeat": args.tour_repeat,
                              "draws": args.draws}, "sizes": []}
    failed = False
    pw = browser = cluster = None
    try:
        if "postgis" in args.backends:
            sys.path.insert(0, str(HERE.parent))
            from tests import pg

            log("starting a throw-away PostgreSQL + PostGIS cluster (tests/pg.py) ...")
            cluster = pg.start()
        if not args.no_browser:
            from playwright.sync_api import sync_playwright

            if not Path(CHROMIUM).exists():
                raise BenchError(f"{CHROMIUM} not found (apt-get install chromium), "
                                 "or run with --no-browser")
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        results["environment"] = environment(browser)
        for n in args.sizes:
            for backend in args.backends:
                try:
                    res = bench_size(n, backend, args.repeat, args.tour_repeat, args.draws,
                                     browser, cluster)
                except Exception as e:  # noqa: BLE001 - report, go on with the next one
                    traceback.print_exc()
                    results["sizes"].append({"n": n, "backend": backend,
                                             "errors": [f"{type(e).__name__}: {e}"]})
                    print(f"\n=== N = {n:,} on {backend}: FAILED: {type(e).__name__}: {e}")
                    failed = True
                    continue
                res["ratios"] = ratios(res)
                results["sizes"].append(res)
                print_table(res, args.repeat)
                sys.stdout.flush()
                failed = failed or bool(res["errors"])
        print_summary(results["sizes"])
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        if cluster is not None:
            pg.stop(cluster)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
