"""Embeds and static exports of a published snapshot (geomap.publications): pure functions over
the snapshot dict, no Flask. The embed page (/embed/<slug>) and the static folder are the same
page rendered by `render_page` with different asset URLs, so what a partner's site frames and
what an NGO uploads to a static host show exactly the published snapshot and nothing else:
nothing here reads live data except imagery pixels of scenes the snapshot marks `tiles: true`,
and those only inside the publication's bounds."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from .errors import InvalidInput, NotFound
from .messages import N_

if TYPE_CHECKING:
    from .config import Settings
    from .store.protocol import StoreLike

WEB = Path(__file__).resolve().parent / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
TRANSLATIONS = WEB / "translations"
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
EMBED_MAX_ZOOM = 18       # the embed's tile route serves no deeper (and the page zooms no deeper)
EXPORT_MAX_ZOOM = 16      # default deepest zoom a static export pre-renders
EXPORT_MAX_TILES = 2000   # default cap on pre-rendered tiles per export
ASPECT = "4 / 3"          # the embed iframe's shape when the optional resize script is absent


def valid_slug(slug: str) -> bool:
    return bool(SLUG.fullmatch(slug or ""))


def published(store: StoreLike, slug: str) -> dict | None:
    """The published snapshot of `slug`, or None (unknown, unpublished, malformed slug)."""
    return _get_published(store, slug) if valid_slug(slug) else None


def _get_published(store: StoreLike, slug: str) -> dict | None:
    from .publications import get_published

    return get_published(store, slug)


def frame_origins(snapshot: dict) -> list[str]:
    """The snapshot's allowed origins that are plain origins (scheme://host[:port]); anything
    else is dropped, so a stored value can never add a directive to the policy."""
    out = []
    for o in snapshot.get("allowed_origins") or []:
        o = str(o).rstrip("/")
        if ORIGIN.fullmatch(o) and o not in out:
            out.append(o)
    return out


def embed_csp(snapshot: dict) -> str:
    """The embed's policy: only our own scripts, styles, images and data; framed only by
    ourselves and the publication's allowed origins; no form goes anywhere."""
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
        "form-action 'none'", "frame-ancestors " + " ".join(["'self'", *frame_origins(snapshot)]),
    ])


def embed_url(base_url: str, slug: str) -> str:
    return base_url.rstrip("/") + "/embed/" + quote(slug)


def embed_code(base_url: str, slug: str, lang: str = "en", resize_script: bool = True) -> str:
    """The HTML a site pastes to show the publication: an iframe that keeps a 4:3 shape at any
    width (CSS aspect-ratio), and optionally our small script that lets the embed ask for the
    height its text needs (postMessage; the page works without it)."""
    from babel.support import Translations

    base = base_url.rstrip("/")
    src = html.escape(embed_url(base, slug), quote=True)
    # the frame's accessible name in the language of the page it is pasted into
    label = Translations.load(str(TRANSLATIONS), [lang if lang in ("ko", "en") else "en"])
    title = html.escape(f"geomap {label.gettext('Map')}: {slug}", quote=True)
    code = (f'<iframe src="{src}" title="{title}" data-geomap-embed loading="lazy" '
            f'referrerpolicy="no-referrer" sandbox="allow-scripts allow-same-origin allow-popups" '
            f'style="width:100%;aspect-ratio:{ASPECT};border:0"></iframe>')
    if resize_script:
        js = html.escape(base + "/static/js/geomap-embed-resize.js", quote=True)
        code += f'\n<script src="{js}" async></script>'
    return code


def oembed(base_url: str, slug: str, maxwidth: int | None = None,
           maxheight: int | None = None, title: str = "") -> dict:
    """The oEmbed 1.0 document (type rich) for a publication; size within maxwidth/maxheight,
    4:3."""
    width, height = 640, 480
    if maxwidth is not None and maxwidth < width:
        width, height = maxwidth, maxwidth * 3 // 4
    if maxheight is not None and maxheight < height:
        width, height = maxheight * 4 // 3, maxheight
    src = html.escape(embed_url(base_url, slug), quote=True)
    return {"version": "1.0", "type": "rich", "provider_name": "geomap",
            "provider_url": base_url.rstrip("/") + "/", "title": title or slug,
            "width": width, "height": height,
            "html": (f'<iframe src="{src}" width="{width}" height="{height}" '
                     f'title="{html.escape(title or slug, quote=True)}" loading="lazy" '
                     f'referrerpolicy="no-referrer" style="border:0"></iframe>')}


def slug_of_url(url: str, host: str) -> str | None:
    """The publication slug an oEmbed `url` names (/p/<slug> or /embed/<slug> on `host`)."""
    try:
        u = urlsplit(url or "")
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or u.netloc != host:
        return None
    m = re.fullmatch(r"/(?:p|embed)/([^/]+)/?", u.path)
    return m.group(1) if m and valid_slug(m.group(1)) else None


# -- the page ------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _env(lang: str):
    from babel.support import Translations
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(Translations.load(str(TRANSLATIONS), [lang]),
                                     newstyle=True)
    return env


PLACEMENT = {"exact": N_("exact location"), "grid": N_("approximate (grid square)"),
             "county": N_("approximate (county)")}


def page_data(snapshot: dict, tile_url: str, data_urls: dict | None = None,
              max_zoom: int = EMBED_MAX_ZOOM, min_zoom: int = 0,
              basemap: dict | None = None) -> dict:
    """What the page's script draws: the snapshot's layers (inline, or the URLs of its GeoJSON
    files), the scenes with tiles (their URL template), the relief basemap ({url, bounds,
    max_native}) and the bounds. `tile_url` has {scene}."""
    from babel.support import Translations

    lang = _lang(snapshot)
    t = Translations.load(str(TRANSLATIONS), [lang])
    layers = data_urls or {k: snapshot.get(k) or {"type": "FeatureCollection", "features": []}
                           for k in ("sites", "cells", "annotations")}
    scenes = [{"id": s["id"], "url": tile_url.replace("{scene}", quote(str(s["id"]))),
               "label": " ".join(str(s.get(k) or "") for k in ("sensor", "acquired")).strip(),
               "attribution": " · ".join(str(s.get(k)) for k in ("attribution", "licence")
                                         if s.get(k))}
              for s in snapshot.get("scenes") or [] if s.get("tiles")]
    if basemap:
        basemap = {**basemap, "attribution": t.gettext("Relief: Natural Earth (public domain)")}
    # a story's steps: what the script needs to move the map (the text is in the HTML)
    steps = [{"view": st.get("view"), "layers": list(st.get("layers") or []),
              "scene": st.get("scene")} for st in snapshot.get("steps") or []]
    return {"lang": lang, "bounds": snapshot.get("bounds"), "layers": layers, "scenes": scenes,
            "steps": steps,
            "max_zoom": max_zoom, "min_zoom": min_zoom, "basemap": basemap,
            "text": {"witnesses": t.gettext("witnesses"), "cell": t.gettext("testimonies here"),
                     "placement": {k: t.gettext(v) for k, v in PLACEMENT.items()},
                     "zoom_in": t.gettext("Zoom in"), "zoom_out": t.gettext("Zoom out"),
                     "step_of": t.gettext("Step %(n)s of %(total)s")}}


def _lang(snapshot: dict) -> str:
    return snapshot.get("lang") if snapshot.get("lang") in ("ko", "en") else "en"


def render_page(snapshot: dict, asset_base: str, tile_url: str,
                data_urls: dict | None = None, max_zoom: int = EMBED_MAX_ZOOM,
                min_zoom: int = 0, basemap: dict | None = None,
                figure_base: str = "figures/") -> str:
    """The publication's map page. `asset_base` prefixes our static files ("/static/" on the
    server, "" in an export), `figure_base` a story's step figures; the page names no other
    host. With steps, the page is a story: a step panel beside (or, on a phone, below) the map."""
    lang = _lang(snapshot)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", snapshot.get("text") or "") if p.strip()]
    scenes = [s for s in snapshot.get("scenes") or [] if s.get("tiles")]
    return _env(lang).get_template("embed_page.html").render(
        lang=lang, title=snapshot.get("title") or "", paragraphs=paragraphs,
        published_at=(snapshot.get("published_at") or "")[:10], version=snapshot.get("version"),
        precision=PLACEMENT.get(snapshot.get("precision"), ""), scenes=scenes,
        min_count=snapshot.get("min_count"), asset=asset_base,
        steps=[{"title": st.get("title") or "", "text": st.get("text") or "",
                "figure": figure_base + st["figure"] if st.get("figure") else None}
               for st in snapshot.get("steps") or []],
        data=page_data(snapshot, tile_url, data_urls, max_zoom, min_zoom, basemap))


# -- tiles ---------------------------------------------------------------------------------------
def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 2 ** z

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def tile_allowed(snapshot: dict, scene_id: str, z: int, x: int, y: int,
                 max_zoom: int = EMBED_MAX_ZOOM) -> bool:
    """Whether the publication shows this tile: its scene is in the snapshot with tiles true,
    the zoom is within the embed's and the tile meets the publication's bounds."""
    if not any(str(s.get("id")) == scene_id and s.get("tiles") is True
               for s in snapshot.get("scenes") or []):
        return False
    if not (0 <= z <= max_zoom and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        return False
    try:
        (south, west), (north, east) = snapshot["bounds"]
    except (KeyError, TypeError, ValueError):
        return False
    w, s, e, n = _tile_bounds(z, x, y)
    return w <= east and e >= west and s <= north and n >= south


def publication_tile(store: StoreLike, settings: Settings, snapshot: dict, scene_id: str,
                     z: int, x: int, y: int, if_none_match=()):
    """A scene's PNG tile as the publication shows it (geomap.tiles.Tile); NotFound for anything
    the snapshot does not publish. The viewer is the snapshot, not whoever asks: publishing
    decided this scene's tiles are public."""
    from . import tiles
    from .policy import SYSTEM

    if not tile_allowed(snapshot, scene_id, z, x, y):
        raise NotFound()
    return tiles.scene_tile(store, settings, SYSTEM, scene_id, z, x, y, "png", if_none_match)


BASEMAP_BEYOND = 3  # the relief is resampled this many zooms past its own (as on the main map)


def basemap_layer(settings: Settings, url: str, max_zoom: int = EMBED_MAX_ZOOM) -> dict:
    """The public-domain relief basemap as the page's script takes it."""
    from .basemap import ensure_basemap

    b = ensure_basemap(settings.basemap_dir)
    return {"url": url, "bounds": [list(b.bounds[0]), list(b.bounds[1])],
            "max_native": min(b.maxzoom + BASEMAP_BEYOND, max_zoom)}


def publication_basemap_tile(settings: Settings, z: int, x: int, y: int, if_none_match=()):
    """A relief basemap tile (public domain, the same for every publication), no deeper than
    the embed shows it."""
    from . import tiles
    from .basemap import ensure_basemap

    if z > ensure_basemap(settings.basemap_dir).maxzoom + BASEMAP_BEYOND:
        raise NotFound()
    return tiles.basemap_tile(settings, z, x, y, if_none_match)


# -- rate limit ----------------------------------------------------------------------------------
class TokenBucket:
    """Per-client token buckets in this process: `burst` requests at once, refilled at `rate`
    a second. `take` returns 0 when allowed, else the seconds to wait."""

    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return max(1, math.ceil((1 - tokens) / self.rate))
            if len(self._buckets) >= self.MAX_CLIENTS and client not in self._buckets:
                self._buckets.clear()  # a flood of addresses: forget them all, start over
            self._buckets[client] = (tokens - 1, now)
            return 0


# -- static export -------------------------------------------------------------------------------
def _tiles_in(bounds, zooms: range) -> list[tuple[int, int, int]]:
    (south, west), (north, east) = bounds
    out = []
    def tx(lon: float, n: int) -> int:
        return min(n - 1, max(0, int((lon + 180) / 360 * n)))

    def ty(lat: float, n: int) -> int:
        r = math.radians(max(-85.0511, min(85.0511, lat)))
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    for z in zooms:
        n = 2 ** z
        out += [(z, x, y) for x in range(tx(west, n), tx(east, n) + 1)
                for y in range(ty(north, n), ty(south, n) + 1)]
    return out


def default_min_zoom(bounds, max_zoom: int) -> int:
    """The zoom at which the publication's extent fills about a tile or two."""
    (south, west), (north, east) = bounds
    span = max(east - west, (north - south) * 1.3, 1e-6)
    return max(0, min(max_zoom, int(math.log2(360 / span)) - 1))


def export_static(store: StoreLike, settings: Settings, snapshot: dict, out_dir: Path, *,
                  max_zoom: int = EXPORT_MAX_ZOOM, min_zoom: int | None = None,
                  max_tiles: int = EXPORT_MAX_TILES, actor: str | None = None) -> dict:
    """Write the publication as a folder any static web host can serve: index.html, our script
    and styles, vendored Leaflet, the snapshot's GeoJSON files and, for scenes with tiles, PNG
    tiles pre-rendered over its bounds from `min_zoom` to `max_zoom`. Every URL is relative.
    Refuses a folder that is not empty, and an export over `max_tiles` tiles (before writing).
    With `actor`, the export is audited."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InvalidInput(f"{out_dir} exists and is not an empty folder", field="out_dir")
    bounds = snapshot.get("bounds")
    if not bounds:
        raise InvalidInput("the publication has no bounds", field="bounds")
    if not 0 <= max_zoom <= EMBED_MAX_ZOOM:
        raise InvalidInput(f"max zoom must be 0 to {EMBED_MAX_ZOOM}", field="max_zoom")
    lo = default_min_zoom(bounds, max_zoom) if min_zoom is None else min_zoom
    if not 0 <= lo <= max_zoom:
        raise InvalidInput("min zoom must be between 0 and max zoom", field="min_zoom")
    scenes = [s for s in snapshot.get("scenes") or [] if s.get("tiles")]
    wanted = _tiles_in(bounds, range(lo, max_zoom + 1))
    relief = basemap_layer(settings, "basemap/{z}/{x}/{y}.png", max_zoom)
    relief_wanted = _tiles_in(bounds, range(0, relief["max_native"] + 1))
    total = len(wanted) * len(scenes) + len(relief_wanted)
    if total > max_tiles:
        raise InvalidInput(
            f"the export would pre-render {total} tiles ({len(scenes)} scenes, zooms {lo}-"
            f"{max_zoom}), more than the limit of {max_tiles}: lower the max zoom or raise "
            f"the limit", field="max_zoom")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("leaflet.js", "leaflet.css", "LICENSE"):
        dst = out_dir / "vendor" / "leaflet" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / "vendor" / "leaflet" / name, dst)
    for rel in ("leaflet/images", "fonts/noto-sans-kr"):  # Korean text needs its font
        shutil.copytree(STATIC / "vendor" / rel, out_dir / "vendor" / rel)
    for rel in ("js/geomap-embed.js", "css/geomap-embed.css"):
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / rel, out_dir / rel)
    from .publications import published_figure

    for step in snapshot.get("steps") or []:  # the story's figures, stored at publish time
        png = published_figure(snapshot, step.get("figure") or "")
        if png is not None:
            (out_dir / "figures").mkdir(exist_ok=True)
            (out_dir / "figures" / step["figure"]).write_bytes(png)
    files = {}
    for key in ("sites", "cells", "annotations"):
        doc = snapshot.get(key) or {"type": "FeatureCollection", "features": []}
        (out_dir / f"{key}.geojson").write_text(json.dumps(doc, ensure_ascii=False),
                                                encoding="utf-8")
        files[key] = f"{key}.geojson"
    written = 0
    for z, x, y in relief_wanted:
        try:
            t = publication_basemap_tile(settings, z, x, y)
        except NotFound:
            continue  # off the relief's extent
        p = out_dir / "basemap" / str(z) / str(x) / f"{y}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(t.body)
        written += 1
    for s in scenes:
        for z, x, y in wanted:
            try:
                t = publication_tile(store, settings, snapshot, str(s["id"]), z, x, y)
            except NotFound:
                continue  # off the scene's footprint
            p = out_dir / "tiles" / str(s["id"]) / str(z) / str(x) / f"{y}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(t.body)
            written += 1
    page = render_page(snapshot, "", "tiles/{scene}/{z}/{x}/{y}.png", data_urls=files,
                       max_zoom=max_zoom, min_zoom=lo, basemap=relief)
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    if actor is not None:  # who took which version off the server (no content: it is public)
        store.audit(actor, "publication.export_static", snapshot.get("slug"),
                    {"version": snapshot.get("version"), "tiles": written,
                     "zooms": [lo, max_zoom]})
    return {"out_dir": str(out_dir), "tiles": written, "zooms": [lo, max_zoom],
            "scenes": [str(s["id"]) for s in scenes]}
