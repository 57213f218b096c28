"""Publications (issue 14): a redacted public view that an advocacy user composes and publishes.

Publishing computes the snapshot ONCE and stores it; public pages, embeds and static exports
serve that stored snapshot and never read live records. The snapshot is built from allow-lists
(every public feature is a new dict of named fields, never an internal record with fields
deleted), only public-tier sites, only scenes whose tier and licence allow public display, and
testimony information only as counts (per site or per cell) at or above a minimum.

Placement is deterministic: a site on a grid sits at its cell's centre (floor to the cell, no
random jitter), on a county at the county's centroid, so asking again and again gives the same
point and nothing can be averaged away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shapely.geometry import Point, box, mapping
from shapely.geometry.base import BaseGeometry

from .errors import Conflict, Forbidden, InvalidInput, NotFound, PeriodParseError
from .messages import N_, Message
from .model import FacilityType, Tier
from .periods import parse_period
from .policy import Permission, Principal, Role

if TYPE_CHECKING:
    from .store.protocol import StoreLike

PRECISIONS = ("exact", "grid", "county")
COUNT_MODES = ("none", "grid", "county")
LAYERS = ("sites", "cells", "annotations")
LANGS = ("ko", "en")
MIN_COUNT_DEFAULT = 5
GRID_KM_DEFAULT = 10.0
GRID_KM_RANGE = (1.0, 200.0)
COUNTY_LEVEL = 2
TITLE_MAX, TEXT_MAX, ORIGINS_MAX = 200, 5000, 20
KM_PER_DEG = 111.32  # one degree of latitude (and of longitude at the equator), in km
DEFAULT_BOUNDS = [[37.5, 124.0], [43.1, 131.0]]  # the northern half of the peninsula
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])")
# SPDX ids (geomap.stac.spdx_licence) whose terms allow showing the imagery to anyone;
# non-commercial and no-derivatives licences are left out (an embed can be anywhere)
OPEN_LICENCES = re.compile(r"^(CC0-1\.0|CC-BY-\d\.\d|CC-BY-SA-\d\.\d|PDDL-1\.0|ODC-By-1\.0|"
                           r"ODbL-1\.0)$")

# -- the allow-lists: the only fields a public feature may carry ------------------------------
SITE_PROPERTIES = ("name", "name_ko", "facility_type")
SCENE_FIELDS = ("id", "acquired", "sensor", "attribution", "licence")
ANNOTATION_PROPERTIES = ("label", "label_text", "scene_date")
# story maps: a published step carries only these (its view is rebuilt, never copied)
STEP_FIELDS = ("title", "text", "view", "layers", "scene", "figure")
STEPS_MAX, STEP_TITLE_MAX, STEP_TEXT_MAX = 30, 200, 2000
FIGURE_DPI = 110  # a figure for a screen, not for print: small enough to store in a snapshot
FIGURE_NAME = re.compile(r"step-[0-9]{1,2}\.png")

# who reads the records a snapshot is built from: public-tier filtering is done explicitly too
_PUBLIC_READER = Principal(None, "public", Role.VIEWER)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _require(actor: Principal) -> None:
    if not actor.can(Permission.PUBLISH):
        raise Forbidden(Message(N_("Your role may not publish.")))


def _bad(which: str, template: str, **params: Any) -> InvalidInput:
    return InvalidInput(Message(template, **params), field=which)


# -- composing ---------------------------------------------------------------------------------
def valid_slug(slug: Any) -> str:
    s = str(slug or "").strip().lower()
    if not _SLUG.fullmatch(s):
        raise _bad("slug", N_("slug: use 3 to 64 lowercase letters, digits and hyphens"))
    return s


def valid_origin(value: str) -> str:
    """An https origin (scheme, host, optional port; no path, query or user) in lower case."""
    try:
        u = urlsplit(value.strip())
        port = u.port
    except ValueError:
        u, port = None, None
    if u is None or u.scheme != "https" or not u.hostname or u.username or u.password \
            or u.path not in ("", "/") or u.query or u.fragment or "*" in value:
        raise _bad("allowed_origins", N_("allowed_origins: %(value)r is not an https origin "
                                         "such as https://example.org"), value=value[:100])
    return f"https://{u.hostname.lower()}" + (f":{port}" if port and port != 443 else "")


def _list(value: Any) -> list[str]:
    """A list from a list or from text separated by commas, spaces or new lines."""
    if value is None:
        return []
    if isinstance(value, str):
        return [x for x in re.split(r"[\s,]+", value) if x]
    if isinstance(value, (list, tuple)):
        return [str(x).strip() for x in value if str(x).strip()]
    raise InvalidInput("a list was expected")


def _number(data: Mapping, field: str, default: float, lo: float, hi: float) -> float:
    raw = data.get(field)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except (TypeError, ValueError):
        v = math.nan
    if not (lo <= v <= hi):
        raise _bad(field, N_("%(field)s: a number from %(lo)s to %(hi)s"), field=field,
                   lo=lo, hi=hi)
    return v


def _choice(data: Mapping, field: str, choices: tuple[str, ...], default: str) -> str:
    v = str(data.get(field) or default)
    if v not in choices:
        raise _bad(field, N_("%(field)s: %(value)r is not one of %(choices)s"), field=field,
                   value=v[:40], choices=", ".join(choices))
    return v


def scene_is_public(scene) -> bool:
    """Whether a scene may be shown to anyone: public tier and an open licence."""
    from .stac import spdx_licence

    lic = spdx_licence(scene.licence)
    return str(scene.tier) == Tier.PUBLIC.value and bool(lic and OPEN_LICENCES.match(lic))


def compose(store: StoreLike, actor: Principal, data: Mapping[str, Any]) -> dict:
    """Validated publication settings from form or JSON input (each bad field named)."""
    from .store.scenes import SceneStore

    _require(actor)
    title = str(data.get("title") or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise _bad("title", N_("title: 1 to %(n)s characters"), n=TITLE_MAX)
    text = str(data.get("text") or "").strip()
    if len(text) > TEXT_MAX:
        raise _bad("text", N_("text: at most %(n)s characters"), n=TEXT_MAX)
    types = _list(data.get("facility_types"))
    for t in types:
        if t not in {f.value for f in FacilityType}:
            raise _bad("facility_types", N_("facility_types: %(value)r is not a facility type"),
                       value=t[:40])
    public_keys = {s.key for s in store.sites(_PUBLIC_READER) if s.tier == Tier.PUBLIC}
    keys = sorted(set(_list(data.get("site_keys"))))
    for k in keys:
        if k not in public_keys:
            raise _bad("site_keys", N_("site_keys: %(value)r is not a public site"),
                       value=k[:80])
    scenes = SceneStore(store)
    scene_ids = sorted(set(_list(data.get("scene_ids"))))
    for sid in scene_ids:
        s = scenes.get(sid, actor)
        if s is None or not scene_is_public(s):
            raise _bad("scene_ids", N_("scene_ids: %(value)r is not a public scene with an "
                                       "open licence"), value=sid[:40])
    layers = _list(data.get("layers")) or ["sites", "cells"]
    for x in layers:
        if x not in LAYERS:
            raise _bad("layers", N_("%(field)s: %(value)r is not one of %(choices)s"),
                       field="layers", value=x[:40], choices=", ".join(LAYERS))
    period_text = str(data.get("period") or "").strip() or None
    try:
        parse_period(period_text)
    except PeriodParseError:
        raise _bad("period", N_("period: %(value)r is not a date or a period"),
                   value=(period_text or "")[:40]) from None
    origins = sorted({valid_origin(o) for o in _list(data.get("allowed_origins"))})
    if len(origins) > ORIGINS_MAX:
        raise _bad("allowed_origins", N_("allowed_origins: at most %(n)s"), n=ORIGINS_MAX)
    witness = data.get("witness_counts")
    steps = _steps(store, actor, data.get("steps"), keys, types, scene_ids,
                   [x for x in LAYERS if x in layers])
    return {**({"steps": steps} if steps else {}),
        "title": title, "text": text, "lang": _choice(data, "lang", LANGS, "ko"),
        "facility_types": sorted(set(types)), "site_keys": keys,
        "site_precision": _choice(data, "site_precision", PRECISIONS, "exact"),
        "site_grid_km": _number(data, "site_grid_km", GRID_KM_DEFAULT, *GRID_KM_RANGE),
        "layers": [x for x in LAYERS if x in layers], "scene_ids": scene_ids,
        "witness_counts": witness in (True, "1", "on", "true", "yes"),
        "counts": _choice(data, "counts", COUNT_MODES, "none"),
        "cell_km": _number(data, "cell_km", GRID_KM_DEFAULT, *GRID_KM_RANGE),
        "min_count": int(_number(data, "min_count", MIN_COUNT_DEFAULT, 2, 1000)),
        "period": period_text, "allowed_origins": origins,
    }


def _own_site_keys(store: StoreLike, keys: list[str], types: list[str]) -> set[str]:
    """The public sites this composition shows (its keys and types; every public site when
    it names neither): the only sites a step may fit the map to."""
    return {s.key for s in store.sites(_PUBLIC_READER) if s.tier == Tier.PUBLIC and
            (not (keys or types) or s.key in keys or str(s.facility_type) in types)}


def _steps(store: StoreLike, actor: Principal, raw: Any, keys: list[str], types: list[str],
           scene_ids: list[str], layers: list[str]) -> list[dict]:
    """A story's steps (list of dicts, from JSON or the form), each bad field named with its
    step ("steps[3].view"). Steps refer only to this publication's sites, scenes and layers."""
    from .figures import check_bbox

    if raw is None or raw == "":
        return []
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, Mapping) for x in raw):
        raise _bad("steps", N_("steps: a list of steps was expected"))
    if len(raw) > STEPS_MAX:
        raise _bad("steps", N_("steps: at most %(n)s"), n=STEPS_MAX)
    own: set[str] | None = None
    out = []
    for i, d in enumerate(raw, start=1):
        def bad(field: str, template: str, i: int = i, **params: Any) -> InvalidInput:
            return _bad(f"steps[{i}].{field}", template, step=i, field=field, **params)
        title = str(d.get("title") or "").strip()
        if not title or len(title) > STEP_TITLE_MAX:
            raise bad("title", N_("step %(step)s, %(field)s: 1 to %(n)s characters"),
                      n=STEP_TITLE_MAX)
        text = str(d.get("text") or "").strip()
        if len(text) > STEP_TEXT_MAX:
            raise bad("text", N_("step %(step)s, %(field)s: at most %(n)s characters"),
                      n=STEP_TEXT_MAX)
        fit = _list(d.get("fit"))
        view: dict[str, Any]
        if fit:
            own = _own_site_keys(store, keys, types) if own is None else own
            for k in fit:
                if k not in own:
                    raise bad("fit", N_("step %(step)s, %(field)s: %(value)r is not a site "
                                        "of this publication"), value=k[:80])
            view = {"fit": sorted(set(fit))}
        elif d.get("center") not in (None, "", []) or d.get("zoom") not in (None, ""):
            try:
                lat, lon = (float(x) for x in d.get("center"))
                zoom = int(float(d.get("zoom")))
            except (TypeError, ValueError):
                lat, lon, zoom = math.nan, math.nan, -1
            if not (-85 <= lat <= 85 and -180 <= lon <= 180 and 0 <= zoom <= 18):
                raise bad("center", N_("step %(step)s, %(field)s: a latitude, a longitude "
                                       "and a zoom from 0 to 18"))
            # a map view needs no more than about 100 m: never a house's coordinates
            view = {"center": [round(lat, 3), round(lon, 3)], "zoom": zoom}
        else:
            view = {}  # the publication's own extent
        step_layers = _list(d.get("layers"))
        for x in step_layers:
            if x not in layers:
                raise bad("layers", N_("step %(step)s, %(field)s: %(value)r is not one of "
                                       "%(choices)s"), value=x[:40], choices=", ".join(layers))
        scene = str(d.get("scene") or "").strip() or None
        if scene is not None and scene not in scene_ids:
            raise bad("scene", N_("step %(step)s, %(field)s: %(value)r is not a scene of this "
                                  "publication"), value=scene[:40])
        figure = None
        fig = d.get("figure")
        if isinstance(fig, Mapping) and (fig.get("scene") or "").strip():
            fscene = str(fig["scene"]).strip()
            if fscene not in scene_ids:
                raise bad("figure", N_("step %(step)s, %(field)s: %(value)r is not a scene of "
                                       "this publication"), value=fscene[:40])
            raw_bbox = fig.get("bbox")
            bbox = _list(raw_bbox) if isinstance(raw_bbox, str) else list(raw_bbox or [])
            if bbox:  # none: the scene's footprint
                try:
                    bbox = [round(x, 5) for x in check_bbox([float(x) for x in bbox])]
                except (InvalidInput, TypeError, ValueError):
                    raise bad("figure", N_("step %(step)s, %(field)s: a bbox of four numbers "
                                           "(west, south, east, north)")) from None
            figure = {"scene": fscene, "bbox": bbox or None}
        out.append({"title": title, "text": text, "view": view,
                    "layers": [x for x in layers if x in step_layers], "scene": scene,
                    "figure": figure})
    return out


# -- redaction: deterministic placement --------------------------------------------------------
def grid_cell(lon: float, lat: float, km: float) -> tuple[int, int]:
    """The (row, column) of the `km` grid cell holding a point. Rows are `km` of latitude;
    within a row, columns are `km` of longitude at the row's middle latitude."""
    dlat = km / KM_PER_DEG
    row = math.floor(lat / dlat)
    return row, math.floor(lon / _dlon(row, km))


def _dlon(row: int, km: float) -> float:
    dlat = km / KM_PER_DEG
    mid = (row + 0.5) * dlat
    return km / (KM_PER_DEG * max(math.cos(math.radians(mid)), 0.01))


def cell_box(row: int, col: int, km: float) -> tuple[float, float, float, float]:
    dlat, dlon = km / KM_PER_DEG, _dlon(row, km)
    return (round(col * dlon, 6), round(row * dlat, 6), round((col + 1) * dlon, 6),
            round((row + 1) * dlat, 6))


def snap_to_grid(lon: float, lat: float, km: float) -> tuple[float, float]:
    """A point moved to the centre of its `km` grid cell (floor, never jitter)."""
    row, col = grid_cell(lon, lat, km)
    minx, miny, maxx, maxy = cell_box(row, col, km)
    return round((minx + maxx) / 2, 6), round((miny + maxy) / 2, 6)


class _Counties:
    """County polygons (boundary level 2) and their centroids, for placing and counting."""

    def __init__(self, store: StoreLike):
        from shapely import STRtree

        self.units = [u for u in store.boundary_units(COUNTY_LEVEL) if u.geometry is not None]
        self.tree = STRtree([u.geometry for u in self.units])

    def find(self, p: Point):
        hits = sorted(int(i) for i in self.tree.query(p, predicate="intersects"))
        return self.units[hits[0]] if hits else None

    @staticmethod
    def centroid(unit) -> tuple[float, float]:
        c = unit.geometry.centroid
        if not unit.geometry.contains(c):
            c = unit.geometry.representative_point()
        return round(c.x, 6), round(c.y, 6)


def _point_of(g: BaseGeometry | None) -> Point | None:
    if g is None or g.is_empty:
        return None
    return g if isinstance(g, Point) else g.representative_point()


# -- building the snapshot from allow-lists ----------------------------------------------------
def _public_site(site, lon: float, lat: float, placement: str, witnesses: int | None) -> dict:
    props: dict[str, Any] = {}
    for f in SITE_PROPERTIES:
        v = getattr(site, f)
        props[f] = str(v) if v is not None else None
    props["placement"] = placement
    if witnesses is not None:
        props["witnesses"] = int(witnesses)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def _sites(store: StoreLike, actor: Principal, st: dict, counties,
           placed: dict[str, tuple[float, float]] | None = None) -> list[dict]:
    """The public site features; `placed` (if given) gets each site key's published point."""
    period = parse_period(st["period"])
    types, keys = set(st["facility_types"]), set(st["site_keys"])
    support = store.site_support(actor) if st["witness_counts"] else {}
    out = []
    for s in store.sites(_PUBLIC_READER, period=period):
        if s.tier != Tier.PUBLIC or ((types or keys) and str(s.facility_type) not in types
                                     and s.key not in keys):
            continue
        p = _point_of(s.geometry)
        if p is None:
            continue
        how = st["site_precision"]
        if how == "exact":
            lon, lat = round(p.x, 5), round(p.y, 5)
        elif how == "grid":
            lon, lat = snap_to_grid(p.x, p.y, st["site_grid_km"])
        else:
            unit = counties.find(p)
            if unit is None:  # no county to stand for it: left out rather than exact
                continue
            lon, lat = counties.centroid(unit)
        w = None
        if st["witness_counts"]:
            n = support.get(s.id, (0, 0))[0]
            w = n if n >= st["min_count"] else None  # a small count is left out, like a cell
        out.append(_public_site(s, lon, lat, how, w))
        if placed is not None:
            placed[s.key] = (lon, lat)
    out.sort(key=lambda f: (f["properties"]["name"] or "", f["geometry"]["coordinates"]))
    return out


def _testimony_points(store: StoreLike, actor: Principal, st: dict) -> list[tuple[float, float]]:
    from .store import TestimonyFilter

    rows, _ = store.testimony_rows(TestimonyFilter(period=parse_period(st["period"])), actor)
    return [(r["minx"], r["miny"]) for r in rows if r["minx"] is not None]


def _cells(store: StoreLike, actor: Principal, st: dict, counties) -> list[dict]:
    """Testimony counts per grid cell or county; cells under the minimum are absent. Only
    the count leaves: no point, no mean position, no record."""
    if st["counts"] == "none" or "cells" not in st["layers"]:
        return []
    counts: dict[Any, int] = {}
    for lon, lat in _testimony_points(store, actor, st):
        if st["counts"] == "grid":
            k = grid_cell(lon, lat, st["cell_km"])
        else:
            unit = counties.find(Point(lon, lat))
            if unit is None:
                continue
            k = unit.code
        counts[k] = counts.get(k, 0) + 1
    units = {u.code: u for u in counties.units} if st["counts"] == "county" else {}
    out = []
    for k in sorted(counts):
        n = counts[k]
        if n < st["min_count"]:
            continue
        if st["counts"] == "grid":
            geom = mapping(box(*cell_box(*k, st["cell_km"])))
        else:
            geom = mapping(units[k].geometry.simplify(0.005, preserve_topology=True))
        out.append({"type": "Feature", "geometry": _rounded(geom), "properties": {"count": n}})
    return out


def _rounded(geom: Mapping) -> dict:
    def r(c):
        return [round(c[0], 6), round(c[1], 6)] if isinstance(c[0], float | int) else \
            [r(x) for x in c]
    return {"type": geom["type"], "coordinates": r(geom["coordinates"])}


@lru_cache(maxsize=2)
def _translations(lang: str):
    from babel.support import Translations

    return Translations.load(str(Path(__file__).parent / "web" / "translations"), [lang])


def _scenes_and_annotations(store: StoreLike, actor: Principal,
                            st: dict) -> tuple[list[dict], list[dict]]:
    from . import annotations
    from .store.scenes import SceneStore

    scenes, feats = [], []
    translate = _translations(st["lang"]).gettext  # not named gettext: no extraction
    for sid in st["scene_ids"]:
        s = SceneStore(store).get(sid, actor)
        if s is None or not scene_is_public(s):  # its tier or licence changed since composing
            continue
        scenes.append({"id": s.id, "acquired": s.acquired.isoformat(), "sensor": s.sensor,
                       "attribution": s.provider, "licence": s.licence, "tiles": True})
        if "annotations" not in st["layers"]:
            continue
        for a in annotations.for_scene(store, _PUBLIC_READER, sid):
            if a["tier"] != Tier.PUBLIC.value or a["deleted"]:
                continue
            props = {"label": a["label"], "label_text": translate(annotations.LABELS[a["label"]]),
                     "scene_date": a["scene_date"]}
            feats.append({"type": "Feature", "geometry": _rounded(a["geometry"]),
                          "properties": {k: props[k] for k in ANNOTATION_PROPERTIES}})
    return scenes, feats


def _bounds(*collections: list[dict]) -> list[list[float]]:
    xs, ys = [], []

    def walk(c):
        if isinstance(c[0], float | int):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for x in c:
                walk(x)
    for coll in collections:
        for f in coll:
            walk(f["geometry"]["coordinates"])
    if not xs:
        return DEFAULT_BOUNDS
    pad = 0.05
    return [[round(min(ys) - pad, 4), round(min(xs) - pad, 4)],
            [round(max(ys) + pad, 4), round(max(xs) + pad, 4)]]


def build_snapshot(store: StoreLike, actor: Principal, settings: dict, slug: str,
                   version: int, published_at: datetime) -> dict:
    """The public snapshot (the shape geomap.web's public page, embeds and exports read)."""
    st = settings
    counties = _Counties(store) if "county" in (st["site_precision"], st["counts"]) else None
    placed: dict[str, tuple[float, float]] = {}
    sites = _sites(store, actor, st, counties, placed) if "sites" in st["layers"] else []
    cells = _cells(store, actor, st, counties)
    scenes, annos = _scenes_and_annotations(store, actor, st)
    story = {}
    if st.get("steps"):
        story["steps"] = _public_steps(st, placed, {s["id"] for s in scenes})
    return {**story,
        "slug": slug, "version": version, "title": st["title"], "text": st["text"],
        "lang": st["lang"], "published_at": published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bounds": _bounds(sites, cells, annos), "precision": st["site_precision"],
        "sites": {"type": "FeatureCollection", "features": sites},
        "cells": {"type": "FeatureCollection", "features": cells},
        "scenes": scenes,
        "annotations": {"type": "FeatureCollection", "features": annos},
        "allowed_origins": list(st["allowed_origins"]), "min_count": st["min_count"],
    }


def _public_steps(st: dict, placed: dict[str, tuple[float, float]],
                  scene_ids: set[str]) -> list[dict]:
    """The story's steps as published: each a new dict of STEP_FIELDS. A step fitted to sites
    gets the bounds of those sites' PUBLISHED points (redacted as the layer is), never their
    records' positions; a scene no longer public is dropped from the step."""
    out = []
    for i, step in enumerate(st["steps"], start=1):
        v = step.get("view") or {}
        view: dict[str, Any] | None = None
        if v.get("fit"):
            pts = [placed[k] for k in v["fit"] if k in placed]
            if pts:
                pad = 0.02
                view = {"bounds": [[round(min(p[1] for p in pts) - pad, 4),
                                    round(min(p[0] for p in pts) - pad, 4)],
                                   [round(max(p[1] for p in pts) + pad, 4),
                                    round(max(p[0] for p in pts) + pad, 4)]]}
        elif v.get("center"):
            view = {"center": [float(v["center"][0]), float(v["center"][1])],
                    "zoom": int(v["zoom"])}
        fig = step.get("figure")
        public = {"title": str(step["title"]), "text": str(step["text"]), "view": view,
                  "layers": [x for x in step.get("layers") or [] if x in st["layers"]],
                  "scene": step.get("scene") if step.get("scene") in scene_ids else None,
                  "figure": f"step-{i}.png" if fig and fig["scene"] in scene_ids else None}
        out.append({k: public[k] for k in STEP_FIELDS})
    return out


def render_step_figures(store: StoreLike, st: dict, snapshot: dict, imagery_dir: Path,
                        lang: str) -> dict[str, str]:
    """PNG figures of the steps that have one (name -> base64), rendered once at publish time
    from the publication's public scenes with only its public annotations and no author's
    name, so no public request ever renders from live data."""
    import base64

    from . import annotations, figures
    from .imagery import scene_dir
    from .store.scenes import SceneStore

    out: dict[str, str] = {}
    when = datetime.strptime(snapshot["published_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    for step, pub in zip(st.get("steps") or [], snapshot.get("steps") or [], strict=True):
        if not pub.get("figure"):
            continue
        sid = step["figure"]["scene"]
        scene = SceneStore(store).get(sid, _PUBLIC_READER)
        path = scene_dir(imagery_dir, sid) / "cog.tif"
        if scene is None or not scene_is_public(scene) or not path.is_file():
            pub["figure"] = None
            continue
        feats = []
        if "annotations" in st["layers"]:
            feats = [{"type": "Feature", "geometry": a["geometry"],
                      "properties": {"label": a["label"]}}
                     for a in annotations.for_scene(store, _PUBLIC_READER, sid)
                     if a["tier"] == Tier.PUBLIC.value and not a["deleted"]]
        bbox = step["figure"]["bbox"] or list(scene.footprint.bounds)
        png = figures.render_figure(scene, path, bbox, feats, lang, "png", pub["title"],
                                    dpi=FIGURE_DPI, authors=[], generated=when)
        out[pub["figure"]] = base64.b64encode(png).decode("ascii")
    return out


# -- lifecycle ---------------------------------------------------------------------------------
def _pubs(store: StoreLike):
    from .store.publications import PublicationStore

    return PublicationStore(store)


def create(store: StoreLike, actor: Principal, slug: Any, data: Mapping[str, Any]):
    _require(actor)
    slug = valid_slug(slug)
    settings = compose(store, actor, data)
    pid = _pubs(store).create(slug, settings, actor.username, now_utc())
    if pid is None:
        raise Conflict(Message(N_("slug: %(value)r is taken"), value=slug))
    return _pubs(store).get(pid)


def get(store: StoreLike, actor: Principal, pub_id: int):
    _require(actor)
    rec = _pubs(store).get(pub_id)
    if rec is None:
        raise NotFound(N_("No such publication."))
    return rec


def all_publications(store: StoreLike, actor: Principal) -> list:
    _require(actor)
    return _pubs(store).all()


def edit(store: StoreLike, actor: Principal, pub_id: int, data: Mapping[str, Any]):
    """New draft settings; what is published stays until the next publish."""
    rec = get(store, actor, pub_id)
    settings = compose(store, actor, data)
    changed = sorted(k for k in {*settings, *rec.settings}
                     if settings.get(k) != rec.settings.get(k))
    _pubs(store).save_settings(pub_id, rec.slug, settings, actor.username, changed)
    return _pubs(store).get(pub_id)


def publish(store: StoreLike, actor: Principal, pub_id: int,
            imagery_dir: Path | None = None) -> int:
    """Compute the snapshot once from the draft settings and store it as the next version.
    A story's figures are rendered now from the scenes' working copies under `imagery_dir`
    and stored with the snapshot (a step's figure is left out without it)."""
    rec = get(store, actor, pub_id)
    settings = dict(rec.settings)
    now = now_utc()

    def build(v: int) -> dict:
        snap = build_snapshot(store, actor, settings, rec.slug, v, now)
        if snap.get("steps"):
            figs = {} if imagery_dir is None else \
                render_step_figures(store, settings, snap, Path(imagery_dir), settings["lang"])
            for step in snap["steps"]:
                if step["figure"] not in figs:
                    step["figure"] = None
            if figs:
                snap["figures"] = figs
        return snap

    return _pubs(store).add_version(pub_id, rec.slug, settings, build, actor.username, now)


def unpublish(store: StoreLike, actor: Principal, pub_id: int) -> None:
    rec = get(store, actor, pub_id)
    if not _pubs(store).unpublish(pub_id, rec.slug, actor.username, now_utc()):
        raise Conflict(Message(N_("This publication is not published.")))


def versions(store: StoreLike, actor: Principal, pub_id: int) -> list:
    get(store, actor, pub_id)
    return _pubs(store).versions(pub_id)


def public_json(snapshot: dict) -> dict:
    """The snapshot as /p/<slug>.json gives it: the stored figures are files of their own."""
    return {k: v for k, v in snapshot.items() if k != "figures"}


def published_figure(snapshot: dict, name: str) -> bytes | None:
    """A step's stored PNG, or None."""
    import base64

    if not isinstance(name, str) or not FIGURE_NAME.fullmatch(name):
        return None
    b64 = (snapshot.get("figures") or {}).get(name)
    return base64.b64decode(b64) if isinstance(b64, str) else None


def get_published(store: StoreLike, slug: str) -> dict | None:
    """The latest published version's stored snapshot (its story figures under "figures",
    name -> base64 PNG); None if unknown or unpublished."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        return None
    return _pubs(store).published_snapshot(slug)
