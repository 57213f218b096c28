"""Geocoding testimonies that name a place but give no coordinates.

A name can only say so much: a town or village becomes an "area" (5 km radius), a site keeps
the precision of the site's own location, a province tells only the admin unit (no point).
Relative descriptions ("5 km north-east of Hoeryŏng", "회령 북동쪽 5km") become an offset point
with a radius that grows with the distance. A name that is ambiguous (two different places
score alike) or weak (low score) is not guessed: it goes to a review list with its candidates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import delete, select, update

from .boundaries import AdminTagger
from .gazetteer import (
    KIND_PLACE,
    KIND_PROVINCE,
    KIND_SITE,
    Candidate,
    Gazetteer,
    parse_facility_ref,
)
from .model import PRECISION_MAX_RADIUS_M, Precision, precision_for_radius
from .store import geom_columns
from .store.schema import geocode_review, sites, testimonies

MIN_SCORE = 88.0
MARGIN = 6.0          # the best must beat a different place by this much
SAME_PLACE_M = 3_000  # candidates closer than this are the same place for this purpose
TOWN_RADIUS_M = 5_000.0
_GEOD = Geod(ellps="WGS84")

_BEARINGS = {
    "north": 0, "north-east": 45, "northeast": 45, "east": 90, "south-east": 135,
    "southeast": 135, "south": 180, "south-west": 225, "southwest": 225, "west": 270,
    "north-west": 315, "northwest": 315, "n": 0, "ne": 45, "e": 90, "se": 135, "s": 180,
    "sw": 225, "w": 270, "nw": 315,
    "북쪽": 0, "북동쪽": 45, "동쪽": 90, "남동쪽": 135, "남쪽": 180, "남서쪽": 225, "서쪽": 270,
    "북서쪽": 315, "북": 0, "북동": 45, "동": 90, "남동": 135, "남": 180, "남서": 225, "서": 270,
    "북서": 315,
}
_DIST = r"(?P<d>\d+(?:[.,]\d+)?)\s*(?P<u>km|kilometres?|kilometers?|m|metres?|meters?|킬로미터|킬로|리)"
_REL_EN = re.compile(_DIST + r"\s+(?P<b>[a-z\-]+)\s+of\s+(?P<place>.+)$", re.IGNORECASE)
_REL_KO = re.compile(r"(?P<place>.+?)\s*(?:에서\s*)?(?P<b>[북남동서]{1,2}쪽?)\s*(?:으로\s*)?(?:약\s*)?"
                     + _DIST + r"$")


@dataclass
class Relative:
    place: str
    bearing_deg: float
    distance_m: float


def parse_relative(text: str) -> Relative | None:
    s = text.strip()
    m = _REL_EN.match(s) or _REL_KO.match(s)
    if not m:
        return None
    bearing = _BEARINGS.get(m["b"].lower())
    if bearing is None:
        return None
    d = float(m["d"].replace(",", "."))
    unit = m["u"].lower()
    metres = d * (1000 if unit.startswith(("k", "킬")) else 400 if unit == "리" else 1)
    return Relative(m["place"].strip(), bearing, metres)


@dataclass
class Decision:
    point: Point | None
    radius_m: float | None
    precision: Precision
    note: str
    candidate: Candidate


def decide(gaz: Gazetteer, text: str, site_radius: dict[str, float]) -> tuple[Decision | None, str, list[Candidate]]:
    """(decision or None, reason when None, candidates)."""
    rel = parse_relative(text)
    name = rel.place if rel else text
    cands = gaz.lookup(name, limit=5)
    if not cands:
        return None, "no candidate", []
    best = cands[0]
    if best.score < MIN_SCORE:
        return None, f"best match scores {best.score:.0f} (< {MIN_SCORE:.0f})", cands
    # a bare place name means a place, "Camp 22" a facility: sites named after their town
    # do not make the town's name ambiguous, nor towns a camp reference
    facility = parse_facility_ref(name) is not None
    rivals = [c for c in cands[1:] if (c.kind == KIND_SITE) == facility]
    for other in rivals:
        if best.score - other.score >= MARGIN:
            break
        if not _same_place(best, other):
            return None, (f"ambiguous: {best.name} ({best.score:.0f}) and {other.name} "
                          f"({other.score:.0f})"), cands
    if best.lon is None:
        return None, f"{best.name} has no coordinates", cands
    if best.kind == KIND_PROVINCE:
        return Decision(None, None, Precision.ADMIN_UNIT, f"province {best.name}", best), "", cands
    base = site_radius.get(best.ref, TOWN_RADIUS_M) if best.kind == KIND_SITE else TOWN_RADIUS_M
    if rel:
        lon, lat, _ = _GEOD.fwd(best.lon, best.lat, rel.bearing_deg, rel.distance_m)
        radius = base + rel.distance_m * 0.3
        note = (f"{rel.distance_m / 1000:g} km at {rel.bearing_deg:g}° from {best.name} "
                f"({best.kind}, score {best.score:.0f})")
        return Decision(Point(round(lon, 6), round(lat, 6)), radius,
                        max_precision(precision_for_radius(radius), Precision.AREA), note,
                        best), "", cands
    precision = Precision.AREA if best.kind == KIND_PLACE else precision_for_radius(base)
    return Decision(Point(best.lon, best.lat), base, precision,
                    f"{best.name} ({best.kind}, score {best.score:.0f})", best), "", cands


def max_precision(a: Precision, floor: Precision) -> Precision:
    """The coarser of two precisions: a name never gives better than `floor`."""
    order = list(Precision)
    return a if order.index(a) >= order.index(floor) else floor


def _same_place(a: Candidate, b: Candidate) -> bool:
    if None in (a.lon, b.lon):
        return False
    return _GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2] <= SAME_PLACE_M


@dataclass
class GeocodeResult:
    geocoded: int = 0
    review: int = 0
    admin_only: int = 0


def geocode_pending(store, gaz: Gazetteer, actor: str,
                    progress: Callable[[int], None] | None = None,
                    keys: Sequence[str] | None = None) -> GeocodeResult:
    """Geocode every testimony with a place name and no location that is not under review;
    with `keys`, only those testimonies (one import's rows), so the counts are about them."""
    pending_q = (select(testimonies.c.id, testimonies.c.place_text)
                 .where(testimonies.c.minx.is_(None), testimonies.c.place_text.is_not(None),
                        testimonies.c.location_source == "reported",
                        ~testimonies.c.id.in_(select(geocode_review.c.testimony_id))))
    with store.read() as conn:
        if keys is None:
            pending = conn.execute(pending_q).all()
        else:
            keys = list(keys)
            pending = [r for i in range(0, len(keys), 500) for r in conn.execute(
                pending_q.where(testimonies.c.key.in_(keys[i:i + 500]))).all()]
        site_radius = {r.key: PRECISION_MAX_RADIUS_M.get(Precision(r.precision), 10_000.0)
                       for r in conn.execute(select(sites.c.key, sites.c.precision))}
    tagger = AdminTagger(store.boundary_units(1))
    unit_by_name = {u.name_en: u.id for u in store.boundary_units(1)}
    res = GeocodeResult()
    now = datetime.now(UTC).replace(tzinfo=None)
    for i in range(0, len(pending), 1000):
        chunk = pending[i:i + 1000]
        with store.write() as conn:
            for tid, place in chunk:
                d, reason, cands = decide(gaz, place, site_radius)
                if d is None:
                    conn.execute(delete(geocode_review).where(geocode_review.c.testimony_id == tid))
                    conn.execute(geocode_review.insert().values(
                        testimony_id=tid, reason=reason, created_at=now,
                        candidates=json.dumps([c.as_dict() for c in cands], ensure_ascii=False)))
                    res.review += 1
                    continue
                values = {"location_source": "geocoded", "geocode_note": d.note,
                          "precision": str(d.precision)}
                if d.point is not None:
                    [tag] = tagger.tag([d.point])
                    values.update(geom_columns(d.point), radius_m=d.radius_m,
                                  admin1_id=tag.unit_id if tag else None,
                                  admin1_outside=bool(tag and tag.outside),
                                  admin1_distance_m=tag.distance_m if tag else None)
                    res.geocoded += 1
                else:
                    values.update(admin1_id=unit_by_name.get(d.candidate.name))
                    res.admin_only += 1
                conn.execute(update(testimonies).where(testimonies.c.id == tid).values(**values))
        if progress:
            progress(len(chunk))
    store.audit(actor, "testimonies.geocode", None, res.__dict__)
    return res


def review_items(store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(select(geocode_review, testimonies.c.place_text)
                            .join(testimonies, testimonies.c.id == geocode_review.c.testimony_id)
                            .order_by(geocode_review.c.testimony_id)).all()
    return [{"testimony_id": r.testimony_id, "place_text": r.place_text, "reason": r.reason,
             "candidates": json.loads(r.candidates)} for r in rows]
