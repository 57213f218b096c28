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
    return {
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


def _sites(store: StoreLike, actor: Principal, st: dict, counties) -> list[dict]:
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
    sites = _sites(store, actor, st, counties) if "sites" in st["layers"] else []
    cells = _cells(store, actor, st, counties)
    scenes, annos = _scenes_and_annotations(store, actor, st)
    return {
        "slug": slug, "version": version, "title": st["title"], "text": st["text"],
        "lang": st["lang"], "published_at": published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bounds": _bounds(sites, cells, annos), "precision": st["site_precision"],
        "sites": {"type": "FeatureCollection", "features": sites},
        "cells": {"type": "FeatureCollection", "features": cells},
        "scenes": scenes,
        "annotations": {"type": "FeatureCollection", "features": annos},
        "allowed_origins": list(st["allowed_origins"]), "min_count": st["min_count"],
    }


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
    changed = sorted(k for k in settings if settings[k] != rec.settings.get(k))
    _pubs(store).save_settings(pub_id, rec.slug, settings, actor.username, changed)
    return _pubs(store).get(pub_id)


def publish(store: StoreLike, actor: Principal, pub_id: int) -> int:
    """Compute the snapshot once from the draft settings and store it as the next version."""
    rec = get(store, actor, pub_id)
    settings = dict(rec.settings)
    now = now_utc()
    return _pubs(store).add_version(
        pub_id, rec.slug, settings,
        lambda v: build_snapshot(store, actor, settings, rec.slug, v, now),
        actor.username, now)


def unpublish(store: StoreLike, actor: Principal, pub_id: int) -> None:
    rec = get(store, actor, pub_id)
    if not _pubs(store).unpublish(pub_id, rec.slug, actor.username, now_utc()):
        raise Conflict(Message(N_("This publication is not published.")))


def versions(store: StoreLike, actor: Principal, pub_id: int) -> list:
    get(store, actor, pub_id)
    return _pubs(store).versions(pub_id)


def get_published(store: StoreLike, slug: str) -> dict | None:
    """The latest published version's stored snapshot; None if unknown or unpublished."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        return None
    return _pubs(store).published_snapshot(slug)
