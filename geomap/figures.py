"""Report figures: a site on a dated scene, and a before/after pair, as print-ready PNG or PDF.

The picture is read from the scene's working copy (the COG the tiles come from) with rio-tiler,
in Web Mercator, with the same bands and display range as the tiles, so the figure is what the
map shows. Annotations arrive as plain GeoJSON Features (WGS84) and are drawn styled by label;
the caption carries what a reader of a report needs to trust and cite the picture: image date,
sensor, credit, licence and the SHA-256 of the original file. Text is set in Pretendard (OFL),
vendored from npm (scripts/vendor_assets.py), in English and Korean alike, and embedded in PDFs.

No Flask, no pyplot (its global state is not for servers): Figure objects and the Agg / PDF
canvases only. Nothing here opens a remote path.
"""

from __future__ import annotations

import gettext
import io
import math
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import box, shape

from .annotations import LABELS
from .errors import GeomapError, InvalidInput
from .messages import N_, Message

if TYPE_CHECKING:
    from .imagery import Scene

ROOT = Path(__file__).resolve().parent
FONT_DIR = ROOT / "web" / "static" / "vendor" / "fonts" / "pretendard"
FONT_FAMILY = "Pretendard"
MONO_FAMILY = "DejaVu Sans Mono"  # ships inside matplotlib
TRANSLATIONS_DIR = ROOT / "web" / "translations"
LANGS = ("en", "ko")
FORMATS = ("png", "pdf")
PAPER_MM = {"a5": 148.0, "a4": 210.0}  # print widths (portrait)
DPI = 300
MERC_MAX_LAT = 85.0511  # Web Mercator's edge
MM = 1 / 25.4  # inches per millimetre

# One style per annotation label: colour (bright enough on dark imagery; drawn over a dark
# halo so it holds on bright ground too), line style (so labels differ in greyscale print)
# and the marker a point of that label gets.
LABEL_STYLES: dict[str, dict] = {
    "perimeter_fence": {"color": "#ffd400", "ls": "--", "marker": "o"},
    "guard_post": {"color": "#ff2d2d", "ls": "-", "marker": "^"},
    "gate_checkpoint": {"color": "#ff8c00", "ls": "-", "marker": "s"},
    "housing_barracks": {"color": "#00e5ff", "ls": "-", "marker": "p"},
    "admin_building": {"color": "#ff4fd8", "ls": "-", "marker": "D"},
    "labour_mine": {"color": "#d2883c", "ls": "-.", "marker": "v"},
    "labour_logging": {"color": "#4cd964", "ls": "-.", "marker": "v"},
    "labour_farm": {"color": "#c6ff00", "ls": "-.", "marker": "v"},
    "labour_factory": {"color": "#a8a8ff", "ls": "-.", "marker": "v"},
    "grave_burial": {"color": "#ffffff", "ls": ":", "marker": "X"},
    "construction": {"color": "#00ff9c", "ls": "--", "marker": "P"},
    "demolition": {"color": "#ff8a80", "ls": ":", "marker": "x"},
    "other": {"color": "#d0d0d0", "ls": (0, (1, 1.5)), "marker": "o"},
}
LABEL_TEXT: dict[str, str] = LABELS  # the annotation vocabulary, defined once
# change against an earlier scene: a tag drawn beside the feature (mathtext, DejaVu glyphs)
CHANGE_TAGS = {"appeared": r"$+$", "gone": r"$-$", "changed": r"$\Delta$"}
CHANGE_TEXT = {"appeared": N_("Appeared since the earlier scene"),
               "gone": N_("Gone since the earlier scene"),
               "changed": N_("Changed since the earlier scene")}

_render_lock = threading.Lock()  # rcParams (PDF font type) are process-global


class FigureFontMissing(GeomapError):
    """The vendored figure font is not installed (`make assets` was not run)."""


# -- text ------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _catalogue(lang: str) -> Callable[[str], str]:
    """gettext for `lang` from the web interface's catalogue (compiled, or its .po source)."""
    if lang == "en":
        return lambda s: s
    d = TRANSLATIONS_DIR / lang / "LC_MESSAGES"
    if (mo := d / "messages.mo").is_file():
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh).gettext
    from babel.messages.pofile import read_po

    with (d / "messages.po").open("rb") as fh:
        cat = read_po(fh)
    table = {m.id: m.string for m in cat if m.id and isinstance(m.string, str) and m.string}
    return lambda s: table.get(s, s)


def _t(lang: str, template: str, **params) -> str:
    return Message(template, **params).render(_catalogue(lang), lang)


def _wrap(text: str, width_pt: float, size_pt: float) -> list[str]:
    """Greedy line breaking by estimated advance (Hangul and other wide characters ~1 em,
    others ~0.56 em); breaks at spaces, or anywhere in a run too long for a line (a hash)."""
    def adv(ch: str) -> float:
        return size_pt * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.56)

    lines, line, used = [], "", 0.0
    for word in text.split(" "):
        w = sum(adv(c) for c in word)
        sep = adv(" ") if line else 0.0
        if line and used + sep + w > width_pt:
            lines.append(line)
            line, used, sep = "", 0.0, 0.0
        if not line and w > width_pt:  # a run longer than a line: cut it
            for c in word:
                if used + adv(c) > width_pt and line:
                    lines.append(line)
                    line, used = "", 0.0
                line += c
                used += adv(c)
            continue
        line += (" " if line else "") + word
        used += sep + w
    if line:
        lines.append(line)
    return lines or [""]


def _clip_lines(lines: list[str], n: int) -> list[str]:
    """At most `n` lines, the last ending in an ellipsis when some were cut."""
    if len(lines) <= n:
        return lines
    return [*lines[:n - 1], lines[n - 1].rstrip()[:-1] + "…"]


# -- fonts -----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _register_fonts() -> bool:
    """Add the vendored Pretendard to matplotlib's font list (from our folder, never the
    system's). False when it is not installed."""
    from matplotlib import font_manager

    files = sorted(FONT_DIR.glob("Pretendard-*.ttf"))
    for f in files:
        font_manager.fontManager.addfont(str(f))
    return bool(files)


def _font_family(lang: str) -> str:
    if _register_fonts():
        return FONT_FAMILY
    if lang != "en":
        raise FigureFontMissing(f"the figure font is not installed in {FONT_DIR} "
                                "(run `make assets`): Korean text would not show")
    return "DejaVu Sans"  # English still renders with matplotlib's own font


# -- geometry --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _to_merc():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


@lru_cache(maxsize=1)
def _geod():
    from pyproj import Geod

    return Geod(ellps="WGS84")


def check_bbox(bbox: Sequence[float], name: str = "bbox") -> tuple[float, float, float, float]:
    """minlon, minlat, maxlon, maxlat that Web Mercator can draw and that has an area."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected minlon,minlat,maxlon,maxlat (4 numbers)",
                           field=name) from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInput(f"{name}: values must be finite numbers", field=name)
    if not (-180 <= minx < maxx <= 180):
        raise InvalidInput(f"{name}: longitudes must be within -180..180, min below max",
                           field=name)
    if not (-MERC_MAX_LAT <= miny < maxy <= MERC_MAX_LAT):
        raise InvalidInput(f"{name}: latitudes must be within -85..85 (Web Mercator), "
                           "min below max (order is lon,lat)", field=name)
    return minx, miny, maxx, maxy


def _merc_bbox(bbox: Sequence[float], min_aspect: float, max_aspect: float
               ) -> tuple[float, float, float, float]:
    """The bbox in Web Mercator metres, widened (never cut) to an aspect a page can hold."""
    tr = _to_merc()
    x0, y0 = tr.transform(bbox[0], bbox[1])
    x1, y1 = tr.transform(bbox[2], bbox[3])
    w, h = x1 - x0, y1 - y0
    if h / w < min_aspect:
        pad = (w * min_aspect - h) / 2
        y0, y1 = y0 - pad, y1 + pad
    elif h / w > max_aspect:
        pad = (h / max_aspect - w) / 2
        x0, x1 = x0 - pad, x1 + pad
    return x0, y0, x1, y1


def _merc_to_lonlat(x: float, y: float) -> tuple[float, float]:
    r = 6378137.0
    return math.degrees(x / r), math.degrees(2 * math.atan(math.exp(y / r)) - math.pi / 2)


@dataclass(frozen=True)
class ScaleBar:
    metres: float      # ground length the bar stands for (a round number)
    merc_units: float  # its length on the map, in Web Mercator metres

    def text(self) -> str:
        m = self.metres
        return f"{m / 1000:g} km" if m >= 1000 else f"{m:g} m"


def choose_scale_bar(merc_bbox: Sequence[float], fraction: float = 0.25) -> ScaleBar:
    """A bar of a round length (1, 2 or 5 x 10^n m) of at most `fraction` of the map's width,
    measured geodesically (WGS84) along the parallel through the map's centre. Web Mercator
    stretches distances by 1/cos(latitude) (1.30x at 39.7N), so a bar drawn in map units
    without this would be wrong by that much; the bar holds at the centre latitude."""
    x0, y0, x1, y1 = merc_bbox
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    lon0, lat = _merc_to_lonlat(x0, cy)
    lon1, _ = _merc_to_lonlat(x1, cy)
    _, _, ground_w = _geod().inv(lon0, lat, lon1, lat)
    metres_per_unit = ground_w / (x1 - x0)
    target = ground_w * fraction
    exp = math.floor(math.log10(target))
    nice = max(m * 10**exp for m in (1, 2, 5) if m * 10**exp <= target)
    # the bar's own ends, centred: geodesic again (a long bar at high latitude is not linear)
    half = nice / metres_per_unit / 2
    la, _ = _merc_to_lonlat(cx - half, cy)
    lb, _ = _merc_to_lonlat(cx + half, cy)
    _, _, bar_ground = _geod().inv(la, lat, lb, lat)
    return ScaleBar(metres=float(nice), merc_units=2 * half * nice / bar_ground)


# -- pixels ----------------------------------------------------------------------------------------
def _read_rgba(scene: Scene, working_copy: Path, merc_bbox: Sequence[float], max_size: int
               ) -> np.ndarray:
    """The scene over `merc_bbox` as an (h, w, 4) uint8 array: the bands and display range the
    tiles use, transparent outside the data."""
    import rasterio
    from rasterio._err import CPLE_BaseError
    from rasterio.crs import CRS
    from rasterio.errors import RasterioError
    from rio_tiler.io import Reader

    from .imagery import GDAL_ENV, UnreadableScene

    merc = CRS.from_epsg(3857)
    indexes = (1, 2, 3) if scene.bands >= 3 else (1,)
    if not Path(working_copy).is_file():
        raise UnreadableScene(f"scene {scene.id}: working copy missing")
    try:
        with rasterio.Env(**GDAL_ENV), Reader(str(working_copy)) as src:
            img = src.part(tuple(merc_bbox), dst_crs=merc, bounds_crs=merc, indexes=indexes,
                           max_size=max_size)
    except (RasterioError, CPLE_BaseError, OSError) as e:
        raise UnreadableScene(f"scene {scene.id}: working copy unreadable ({e})") from None
    if scene.rescale:
        img.rescale(in_range=[tuple(scene.rescale[i - 1]) for i in indexes])
    data = np.asarray(img.data_as_image())  # (h, w, bands)
    if data.dtype != np.uint8:
        data = np.clip(data, 0, 255).astype(np.uint8)
    if data.shape[-1] == 1:
        data = np.repeat(data, 3, axis=-1)
    alpha = np.asarray(img.mask, dtype=np.uint8)
    return np.dstack([data[..., :3], alpha])


def _native_pixels(scene: Scene, merc_bbox: Sequence[float]) -> int:
    """How many scene pixels the bbox's longer side spans (the read never upsamples past it)."""
    x0, y0, x1, y1 = merc_bbox
    lon0, lat0 = _merc_to_lonlat(x0, y0)
    lon1, lat1 = _merc_to_lonlat(x1, y1)
    _, _, w = _geod().inv(lon0, (lat0 + lat1) / 2, lon1, (lat0 + lat1) / 2)
    _, _, h = _geod().inv(lon0, lat0, lon0, lat1)
    return max(1, math.ceil(max(w, h) / max(scene.res_m, 1e-6)))


def _check_overlap(scene: Scene, bbox: Sequence[float]) -> None:
    if not scene.footprint.intersects(box(*bbox)):
        raise InvalidInput(Message(N_("bbox: the area does not overlap the scene of %(date)s"),
                                   date=scene.acquired.isoformat()), field="bbox")


# -- drawing ---------------------------------------------------------------------------------------
def _features_merc(features: Sequence[dict]) -> list[tuple[shapely.Geometry, dict]]:
    tr = _to_merc()
    out = []
    for f in features or ():
        geom = f.get("geometry") if isinstance(f, dict) else None
        if not geom:
            continue
        try:
            g = shape(geom)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise InvalidInput("features: a feature's geometry is not valid GeoJSON",
                               field="features") from None
        g = shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        out.append((g, dict(f.get("properties") or {})))
    return out


def _style(props: dict) -> tuple[str, dict]:
    label = props.get("label") if props.get("label") in LABEL_STYLES else "other"
    return label, LABEL_STYLES[label]


def _draw_features(ax, feats: list[tuple[shapely.Geometry, dict]], scale: float) -> None:
    from matplotlib import patheffects
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    lw = 1.4 * scale
    halo = [patheffects.withStroke(linewidth=lw + 1.8 * scale, foreground="#000000", alpha=0.75)]
    for g, props in feats:
        _, st = _style(props)
        c, ls = st["color"], st["ls"]
        for part in getattr(g, "geoms", [g]):
            if part.geom_type == "Point":
                ax.plot([part.x], [part.y], marker=st["marker"], markersize=7 * scale, color=c,
                        markeredgecolor="#000000", markeredgewidth=0.8 * scale, linestyle="none",
                        zorder=5)
            elif part.geom_type == "LineString":
                xs, ys = part.xy
                ax.plot(xs, ys, color=c, linestyle=ls, linewidth=lw, path_effects=halo,
                        zorder=4)
            elif part.geom_type == "Polygon":
                rings = [part.exterior, *part.interiors]
                verts = np.concatenate([np.asarray(r.coords) for r in rings])
                codes = np.concatenate([[MPath.MOVETO] + [MPath.LINETO] * (len(r.coords) - 2)
                                        + [MPath.CLOSEPOLY] for r in rings])
                path = MPath(verts, codes)
                ax.add_patch(PathPatch(path, facecolor=c, alpha=0.18, edgecolor="none",
                                       zorder=3))
                ax.add_patch(PathPatch(path, facecolor="none", edgecolor=c, linestyle=ls,
                                       linewidth=lw, path_effects=halo, zorder=4))
        change = props.get("change")
        if change in CHANGE_TAGS:
            p = g.representative_point() if not g.is_empty else None
            if p is not None:
                ax.annotate(CHANGE_TAGS[change], (p.x, p.y), xytext=(6 * scale, 6 * scale),
                            textcoords="offset points", fontsize=8 * scale, color="#000000",
                            zorder=6, bbox={"boxstyle": "circle,pad=0.15", "fc": c,
                                            "ec": "#000000", "lw": 0.6 * scale})


def _draw_scale_and_north(ax, merc_bbox: Sequence[float], family: str, scale: float,
                          lang: str, size_in: tuple[float, float]) -> None:
    """Scale bar (bottom left) and north arrow (top right), sized in millimetres on paper
    whatever the panel's shape; `size_in` is the map's (width, height) in inches."""
    from matplotlib.patches import FancyArrow, Rectangle

    x0, y0, x1, y1 = merc_bbox
    mx = (x1 - x0) / (size_in[0] * 25.4)  # map units per millimetre on paper
    my = (y1 - y0) / (size_in[1] * 25.4)
    bar = choose_scale_bar(merc_bbox)
    bx, by, bh = x0 + 5 * mx, y0 + 4 * my, 1.4 * my
    # a white box behind, two halves black and white, the length written above
    ax.add_patch(Rectangle((bx - 2 * mx, by - 2 * my), bar.merc_units + 4 * mx, 9 * my,
                           facecolor="#ffffff", alpha=0.8, edgecolor="none", zorder=7))
    half = bar.merc_units / 2
    ax.add_patch(Rectangle((bx, by), half, bh, facecolor="#000000", edgecolor="#000000",
                           lw=0.6 * scale, zorder=8))
    ax.add_patch(Rectangle((bx + half, by), half, bh, facecolor="#ffffff", edgecolor="#000000",
                           lw=0.6 * scale, zorder=8))
    ax.text(bx + half, by + bh + 0.8 * my, bar.text(), ha="center", va="bottom",
            fontsize=7 * scale, family=family, zorder=9)
    # north: Web Mercator is conformal with straight meridians, so north is up everywhere
    bw, bht = 8 * mx, 15 * my
    left, bottom = x1 - 3 * mx - bw, y1 - 3 * my - bht
    nx = left + bw / 2
    ax.add_patch(Rectangle((left, bottom), bw, bht, facecolor="#ffffff", alpha=0.8,
                           edgecolor="none", zorder=7))
    ax.add_patch(FancyArrow(nx, bottom + 1.5 * my, 0, 8 * my, width=1.2 * mx,
                            head_width=4 * mx, head_length=3.5 * my, length_includes_head=True,
                            color="#000000", zorder=8))
    ax.text(nx, bottom + 10.3 * my, _t(lang, N_("N")), ha="center", va="bottom",
            fontsize=9 * scale, weight="bold", family=family, zorder=9)


def _legend_handles(feature_sets: Sequence[list[tuple[shapely.Geometry, dict]]], lang: str,
                    scale: float) -> list:
    from matplotlib.lines import Line2D

    labels, changes = set(), set()
    for feats in feature_sets:
        for _, props in feats:
            labels.add(_style(props)[0])
            if props.get("change") in CHANGE_TAGS:
                changes.add(props["change"])
    out = []
    for label in LABEL_STYLES:  # vocabulary order, only those present
        if label in labels:
            st = LABEL_STYLES[label]
            out.append(Line2D([], [], color=st["color"], linestyle=st["ls"],
                              linewidth=1.6 * scale, marker=st["marker"],
                              markersize=5 * scale, markeredgecolor="#000000",
                              markeredgewidth=0.5 * scale, label=_t(lang, LABEL_TEXT[label])))
    for change in CHANGE_TAGS:
        if change in changes:
            out.append(Line2D([], [], color="#000000", linestyle="none",
                              marker=CHANGE_TAGS[change], markersize=6 * scale,
                              label=_t(lang, CHANGE_TEXT[change])))
    return out


def _authors(features: Sequence[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for f in features or ():
        p = (f.get("properties") or {}) if isinstance(f, dict) else {}
        a = p.get("author") or p.get("created_by")
        if isinstance(a, str) and a.strip():
            seen.setdefault(a.strip(), None)
    return list(seen)


def _scene_lines(scene: Scene, lang: str, prefix: str | None = None) -> list[tuple[str, bool]]:
    """Caption lines describing one scene: (text, monospace)."""
    unknown = _t(lang, N_("not recorded"))
    head = [] if prefix is None else [(prefix, False)]
    return head + [
        (_t(lang, N_("Image date: %(date)s"), date=scene.acquired.isoformat()) + " · "
         + _t(lang, N_("Sensor: %(sensor)s"), sensor=scene.sensor or unknown), False),
        (_t(lang, N_("Credit: %(provider)s"), provider=scene.provider or unknown) + " · "
         + _t(lang, N_("Licence: %(licence)s"), licence=scene.licence or unknown), False),
        (_t(lang, N_("SHA-256 of the original file: %(sha256)s"), sha256=scene.sha256), True),
    ]


@dataclass
class _Panel:
    scene: Scene
    rgba: np.ndarray
    feats: list
    title: str | None


def _compose(panels: list[_Panel], merc_bbox: Sequence[float], lang: str, fmt: str,
             title: str, caption: list[tuple[str, bool]], width_mm: float, dpi: int) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    family = _font_family(lang)
    scale = 1.0
    x0, y0, x1, y1 = merc_bbox
    aspect = (y1 - y0) / (x1 - x0)
    margin, gap = 8 * MM, 4 * MM
    width = width_mm * MM
    n = len(panels)
    map_w = (width - 2 * margin - gap * (n - 1)) / n
    map_h = map_w * aspect
    text_w_pt = (width - 2 * margin) * 72
    # caption lines wrapped to the page width before the page height is known
    cap_size = 6.5
    wrapped = [(ln, mono) for text, mono in caption
               for ln in _wrap(text, text_w_pt, cap_size * (1.08 if mono else 1.0))]
    handles = _legend_handles([p.feats for p in panels], lang, scale)
    ncol = 3 if width_mm >= 180 else 2
    legend_h = (math.ceil(len(handles) / ncol) * 4.2 * MM + 2 * MM) if handles else 0.0
    title_lines = _clip_lines(_wrap(title, text_w_pt, 11 * 1.1), 3)
    title_h = len(title_lines) * 11 * 1.3 / 72 + 4.5 * MM
    panel_title_h = 5 * MM if any(p.title for p in panels) else 0.0
    caption_h = len(wrapped) * cap_size * 1.45 / 72 + 2 * MM
    height = margin + title_h + panel_title_h + map_h + gap + legend_h + caption_h + margin * 0.6

    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="#ffffff")

    def frac(x_in, y_top_in, w_in, h_in):  # inches from the top-left -> figure fractions
        return [x_in / width, 1 - (y_top_in + h_in) / height, w_in / width, h_in / height]

    # parse_math=False throughout: a site name or licence with "$" signs is text, not TeX
    fig.text(margin / width, 1 - margin / height, "\n".join(title_lines), ha="left", va="top",
             fontsize=11, weight="bold", family=family, linespacing=1.3, parse_math=False)
    top = margin + title_h
    for i, p in enumerate(panels):
        left = margin + i * (map_w + gap)
        if p.title:
            head = _clip_lines(_wrap(p.title, map_w * 72, 8.5 * 1.1), 1)[0]
            fig.text(left / width, 1 - top / height, head, ha="left", va="top",
                     fontsize=8.5, weight="bold", family=family, parse_math=False)
        ax = fig.add_axes(frac(left, top + panel_title_h, map_w, map_h))
        ax.set_facecolor("#d9d9d9")  # outside the scene's data: grey, not black
        ax.imshow(p.rgba, extent=(x0, x1, y0, y1), origin="upper", interpolation="none",
                  zorder=1)
        _draw_features(ax, p.feats, scale)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_linewidth(0.6)
        _draw_scale_and_north(ax, merc_bbox, family, scale, lang, (map_w, map_h))
    y = top + panel_title_h + map_h + gap
    if handles:
        lax = fig.add_axes(frac(margin, y, width - 2 * margin, legend_h))
        lax.axis("off")
        lax.set_facecolor("#ffffff")
        # the legend's swatches sit on mid grey so white and yellow styles show on paper
        leg = lax.legend(handles=handles, loc="upper left", ncol=ncol, frameon=True,
                         prop={"family": family, "size": 7}, borderaxespad=0,
                         handlelength=3.2, columnspacing=1.5, facecolor="#8a8a8a",
                         edgecolor="#8a8a8a", labelcolor="#ffffff")
        leg.get_frame().set_alpha(1.0)
        y += legend_h
    line_h = cap_size * 1.45 / 72
    for i, (ln, mono) in enumerate(wrapped):
        fig.text(margin / width, 1 - (y + i * line_h) / height, ln, ha="left", va="top",
                 fontsize=cap_size, family=[MONO_FAMILY, family] if mono else family,
                 color="#202020", parse_math=False)  # a list: Hangul falls back to ours
    buf = io.BytesIO()
    sources = " · ".join(f"{p.scene.acquired.isoformat()} SHA-256 {p.scene.sha256}"
                         for p in panels)
    meta = ({"Title": title, "Creator": "geomap", "Subject": sources} if fmt == "pdf"
            else {"Title": title, "Software": "geomap", "Source": sources})
    with _render_lock, matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, dpi=dpi, facecolor="#ffffff", metadata=meta)
    return buf.getvalue()


def _check_common(lang: str, fmt: str, paper: str) -> float:
    if lang not in LANGS:
        raise InvalidInput(f"lang: expected one of {', '.join(LANGS)}, got {lang!r}",
                           field="lang")
    if fmt not in FORMATS:
        raise InvalidInput(f"format: expected png or pdf, got {fmt!r}", field="format")
    if paper not in PAPER_MM:
        raise InvalidInput(f"paper: expected one of {', '.join(PAPER_MM)}, got {paper!r}",
                           field="paper")
    return PAPER_MM[paper]


def _generated_line(lang: str, authors: Sequence[str], when: datetime | None
                    ) -> list[tuple[str, bool]]:
    out = []
    if authors:
        out.append((_t(lang, N_("Annotations by %(authors)s"), authors=", ".join(authors)),
                    False))
    when = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out.append((_t(lang, N_("Generated %(when)s by geomap from the scene's working copy "
                            "(Web Mercator; scale bar true at the map's centre latitude)."),
                    when=when), False))
    return out


def render_figure(scene: Scene, working_copy: Path, bbox_wgs84: Sequence[float],
                  features: Sequence[dict] = (), lang: str = "en", fmt: str = "png",
                  site_name: str | None = None, *, paper: str = "a5", dpi: int = DPI,
                  authors: Sequence[str] | None = None,
                  generated: datetime | None = None) -> bytes:
    """One scene over `bbox_wgs84` (minlon, minlat, maxlon, maxlat) with `features` (GeoJSON
    Features in WGS84; properties label, change, author), a legend of the labels present,
    scale bar, north arrow and a caption (date, sensor, credit, licence, SHA-256, authors),
    `paper` wide ("a5" 148 mm, "a4" 210 mm) at `dpi`. Returns PNG or PDF bytes."""
    width_mm = _check_common(lang, fmt, paper)
    bbox = check_bbox(bbox_wgs84)
    _check_overlap(scene, bbox)
    merc = _merc_bbox(bbox, 0.55, 1.3)
    feats = _features_merc(features)
    px = round((width_mm - 16) * MM * dpi)
    rgba = _read_rgba(scene, working_copy, merc, max_size=min(px, _native_pixels(scene, merc)))
    title = site_name or _t(lang, N_("Scene of %(date)s"), date=scene.acquired.isoformat())
    caption = _scene_lines(scene, lang)
    caption += _generated_line(lang, authors if authors is not None else _authors(features),
                               generated)
    return _compose([_Panel(scene, rgba, feats, None)], merc, lang, fmt, title, caption,
                    width_mm, dpi)


def render_before_after(before: Scene, before_copy: Path, after: Scene, after_copy: Path,
                        bbox_wgs84: Sequence[float], before_features: Sequence[dict] = (),
                        after_features: Sequence[dict] = (), lang: str = "en",
                        fmt: str = "png", site_name: str | None = None, *, paper: str = "a4",
                        dpi: int = DPI, authors: Sequence[str] | None = None,
                        generated: datetime | None = None) -> bytes:
    """Two dates side by side over the same extent, each with its own annotations, one legend
    and a caption that describes both scenes (each with its SHA-256)."""
    width_mm = _check_common(lang, fmt, paper)
    bbox = check_bbox(bbox_wgs84)
    if before.id == after.id:
        raise InvalidInput("after: choose a scene other than the before scene", field="after")
    _check_overlap(before, bbox)
    _check_overlap(after, bbox)
    merc = _merc_bbox(bbox, 0.6, 1.4)
    px = round((width_mm - 20) / 2 * MM * dpi)
    panels = []
    for key, scene, path, feats in (("before", before, before_copy, before_features),
                                    ("after", after, after_copy, after_features)):
        rgba = _read_rgba(scene, path, merc, max_size=min(px, _native_pixels(scene, merc)))
        head = (N_("Before: %(date)s · %(sensor)s") if key == "before"
                else N_("After: %(date)s · %(sensor)s"))
        title = _t(lang, head, date=scene.acquired.isoformat(),
                   sensor=scene.sensor or _t(lang, N_("not recorded")))
        panels.append(_Panel(scene, rgba, _features_merc(feats), title))
    title = site_name or _t(lang, N_("Change between %(before)s and %(after)s"),
                            before=before.acquired.isoformat(), after=after.acquired.isoformat())
    caption = (_scene_lines(before, lang, _t(lang, N_("Before (left)")))
               + _scene_lines(after, lang, _t(lang, N_("After (right)")))
               + _generated_line(lang, authors if authors is not None else
                                 _authors([*before_features, *after_features]), generated))
    return _compose(panels, merc, lang, fmt, title, caption, width_mm, dpi)
