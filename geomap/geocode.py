"""Geocoding testimonies that name a place but give no coordinates.

A name can only say so much: a town or village becomes an "area" (5 km radius), a site keeps
the precision of the site's own location, a province tells only the admin unit (no point).
Relative descriptions ("about 10 km to the north of Hoeryŏng", "회령에서 북쪽으로 10킬로미터쯤",
"near X", "X 외곽"; see geomap.relative) become an offset point with a radius widened by the
description's own uncertainty. Facility-kind and authority words ("Kaechon kyohwaso",
"Onsong bowibu", "온성 안전부") choose among the facilities of a town and are kept on the
decision (and in the stored note) for linking. A name that is ambiguous (two different places
score alike) or weak (low score) is not guessed: it goes to a review list with its candidates,
where a researcher picks one, places a point, or says it cannot be located (audited).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyproj import Geod
from shapely.geometry import Point

from .boundaries import AdminTagger, admin_columns
from .gazetteer import (
    KIND_PLACE,
    KIND_PROVINCE,
    KIND_SITE,
    Candidate,
    Gazetteer,
    parse_facility_ref,
)
from .model import PRECISION_MAX_RADIUS_M, Precision, precision_for_radius
from .relative import Relative, parse_relative
from .romanize import skeleton
from .store import geocoding as sql
from .store import geom_columns

if TYPE_CHECKING:
    from .store.protocol import StoreLike

MIN_SCORE = 88.0
MARGIN = 6.0          # the best must beat a different place by this much
SAME_PLACE_M = 3_000  # candidates closer than this are the same place for this purpose
TOWN_RADIUS_M = 5_000.0
TOWN_SITES_M = 25_000.0
FACILITY_OF_TOWN_M = 15_000.0  # a facility the witness names by its town: where it may lie       # a town's facilities: the listed sites this close to it
REFERENCE_FRACTION = 0.4       # "N km from a town" is measured from within 2 km of its point
_GEOD = Geod(ellps="WGS84")

NEAR_RADIUS_M = 10_000.0       # "near X": twice a town's own radius
OUTSKIRTS_EXTRA_M = 3_000.0    # "outskirts of X": the town's radius and a ring round it


@dataclass
class Decision:
    point: Point | None
    radius_m: float | None
    precision: Precision
    note: str
    candidate: Candidate
    kind: str | None = None        # facility kind the place text names (kyohwaso...)
    authority: str | None = None   # MSS / MPS named in the place text


def qualifiers(text: str) -> tuple[str | None, str | None]:
    """(facility kind, authority) the witness's words name, for geocoding and linking."""
    ref = parse_facility_ref(text or "")
    return (ref.kind, ref.authority) if ref else (None, None)


def _fit(c: Candidate, kind: str | None, authority: str | None,
         number: int | None = None) -> int:
    """How many of the named kind, authority and number a candidate agrees with."""
    return (c.kind == KIND_SITE and kind is not None and c.facility_type == kind) + \
        (c.kind == KIND_SITE and authority is not None and c.authority == authority) + \
        (c.kind == KIND_SITE and number is not None and number in c.numbers)


def place_decision(best: Candidate, rel: Relative | None, site_radius: dict[str, float],
                   kind: str | None = None, authority: str | None = None) -> Decision:
    """Where a chosen candidate puts the testimony, with the relative description applied."""
    if best.kind == KIND_PROVINCE:
        return Decision(None, None, Precision.ADMIN_UNIT, f"province {best.name}", best, kind,
                        authority)
    base = site_radius.get(best.ref, TOWN_RADIUS_M) if best.kind == KIND_SITE else TOWN_RADIUS_M
    what = f"{best.name} ({best.kind}, score {best.score:.0f})"
    if rel and rel.mode == "offset":
        lon, lat, _ = _GEOD.fwd(best.lon, best.lat, rel.bearing_deg, rel.distance_m)
        # where the description itself may be wrong (a guessed distance, a compass sector:
        # see Relative.uncertainty_m) and where in the place it was measured from (a town is
        # measured from near its centre: a fraction of its radius), independent errors
        ref = base * REFERENCE_FRACTION if best.kind == KIND_PLACE else base
        radius = math.hypot(ref, rel.uncertainty_m())
        note = f"{rel.distance_m / 1000:g} km at {rel.bearing_deg:g}° from {what}"
        return Decision(Point(round(lon, 6), round(lat, 6)), radius, _point_precision(radius),
                        note, best, kind, authority)
    if rel and rel.mode == "ring":  # "10 km from X": somewhere on a circle round X
        radius = base + rel.distance_m + rel.uncertainty_m()
        note = f"{rel.distance_m / 1000:g} km from {what}"
    elif rel and rel.mode == "near":
        radius, note = max(NEAR_RADIUS_M, 2 * base), f"near {what}"
    elif rel and rel.mode == "outskirts":
        radius, note = base + OUTSKIRTS_EXTRA_M, f"outskirts of {what}"
    elif best.kind == KIND_PLACE and (kind or authority):
        # "Kangson kyohwaso": a facility named after a town lies outside it, often 10-30 km
        radius, note = FACILITY_OF_TOWN_M, f"a facility of {what}"
    else:
        radius, note = base, what
    if rel:
        precision = _point_precision(radius)
    elif best.kind == KIND_PLACE:
        precision = Precision.AREA
    else:
        precision = precision_for_radius(radius)
    return Decision(Point(best.lon, best.lat), radius, precision, note, best, kind, authority)


def decide(gaz: Gazetteer, text: str, site_radius: dict[str, float]) -> tuple[Decision | None, str, list[Candidate]]:
    """(decision or None, reason when None, candidates)."""
    try:
        rel = parse_relative(text)
    except Exception:  # noqa: BLE001 - a description we cannot read is looked up as a name
        rel = None
    name = rel.place if rel else text
    kind, authority = qualifiers(name)
    cands = gaz.lookup(name, limit=5)
    if rel and rel.mode in ("offset", "ring"):
        # "bowibu, 2 km south-east of Hoeryong": the facility is what lies 2 km away, the town
        # is where it is measured from ("3 km north of Camp 14", with no town: the camp is)
        # "처마봉 통제구역, 14 km south-east of 개천": of the parts of the place, the town
        fac = parse_facility_ref(name)
        tries = ([fac.rest] if fac is not None and fac.rest else []) + (
            list(rel.parts) if len(rel.parts) > 1 else [])
        for part in tries:
            towns = [c for c in gaz.lookup(part, limit=5)
                     if c.kind == KIND_PLACE and c.score >= MIN_SCORE]
            if towns:
                name, cands = part, towns
                break
    if not cands and rel:  # the grammar took too much: the whole text as a name
        rel, name = None, text
        kind, authority = qualifiers(name)
        cands = gaz.lookup(name, limit=5)
    if not cands:
        return None, "no candidate", []
    best = cands[0]
    if best.score < MIN_SCORE:
        return None, f"best match scores {best.score:.0f} (< {MIN_SCORE:.0f})", cands
    # a bare place name means a place, "Camp 22" a facility: sites named after their town
    # do not make the town's name ambiguous, nor towns a camp reference; a facility that fits
    # fewer of the named kind and authority ("bowibu": the MSS twin) is no rival either
    facility = parse_facility_ref(name) is not None
    rivals = [c for c in cands[1:] if (c.kind == KIND_SITE) == facility
              and _fit(c, kind, authority) >= _fit(best, kind, authority)
              and not _own_name_beats_alternate(name, best, c)
              and not (best.kind == KIND_SITE and skeleton(best.matched) == skeleton(name)
                       and gaz.via_town(c))]
    for other in rivals:
        if best.score - other.score >= MARGIN:
            break
        if not _same_place(best, other):
            return None, (f"ambiguous: {best.name} ({best.score:.0f}) and {other.name} "
                          f"({other.score:.0f})"), cands
    if best.kind == KIND_SITE and gaz.via_town(best):
        # "Sinuiju powibu": the town's name with words that do not single out one of the
        # town's facilities places the testimony at the town, and the linker weighs the words
        # against each facility there. Not singled out: another site the same town name
        # matched fits the words as well, or a site near the town fits them better.
        number = fac.number if (fac := parse_facility_ref(name)) else None
        fit = _fit(best, kind, authority, number)
        town = next((c for c in cands if c.kind == KIND_PLACE and c.score >= MIN_SCORE), None)
        if town is not None and (
                any(c.kind == KIND_SITE and c.ref != best.ref and gaz.via_town(c)
                    and c.score >= best.score and _fit(c, kind, authority, number) >= fit
                    for c in cands)
                or any(c.ref != best.ref and _fit(c, kind, authority, number) > fit
                       for c in gaz.sites_near(town.lon, town.lat, TOWN_SITES_M))):
            best = town
    if best.lon is None and best.kind != KIND_PROVINCE:
        return None, f"{best.name} has no coordinates", cands
    return place_decision(best, rel, site_radius, kind, authority), "", cands


def _own_name_beats_alternate(query: str, best: Candidate, other: Candidate) -> bool:
    """"Onsong" is the town called Onsŏng, not a town that once had that name among its
    alternates (Namyang): a place's own name beats another's alternate name."""
    from .romanize import skeleton

    q = skeleton(query)
    return (best.kind == other.kind == KIND_PLACE and skeleton(best.name) == q
            and skeleton(other.name) != q)


def _point_precision(radius: float) -> Precision:
    """A name never gives better than "area"; a point with a wider radius is still an area
    (the radius says how wide), not "admin unit only", which means no point at all."""
    p = max_precision(precision_for_radius(radius), Precision.AREA)
    return Precision.AREA if p == Precision.ADMIN_UNIT else p


def evidence_note(d: Decision) -> str:
    """The stored note: how the place was found, and the kind and authority the witness named
    ("...; kind kyohwaso; authority MSS"), kept for the linking engine."""
    return d.note + "".join(f"; {k} {v}" for k, v in (("kind", d.kind),
                                                     ("authority", d.authority)) if v)


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


def geocode_pending(store: StoreLike, gaz: Gazetteer, actor: str,
                    progress: Callable[[int], None] | None = None,
                    keys: Sequence[str] | None = None) -> GeocodeResult:
    """Geocode every testimony with a place name and no location that is not under review;
    with `keys`, only those testimonies (one import's rows), so the counts are about them."""
    with store.read() as conn:
        pending = sql.pending_places(conn, keys)
        site_radius = {k: PRECISION_MAX_RADIUS_M.get(Precision(p), 10_000.0)
                       for k, p in sql.precisions_in(conn).items()}
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
                    sql.queue_for_review(conn, tid, reason, json.dumps(
                        [c.as_dict() for c in cands], ensure_ascii=False), now)
                    res.review += 1
                    continue
                values = {"location_source": "geocoded", "geocode_note": evidence_note(d),
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
                sql.set_geocoded(conn, tid, values)
        if progress:
            progress(len(chunk))
    store.audit(actor, "testimonies.geocode", None, res.__dict__)
    return res


def locate_and_link(store: StoreLike, actor: str,
                    keys: Sequence[str] | None = None) -> tuple[GeocodeResult, dict]:
    """Place names located, then candidate links proposed (the linking's counts): what follows
    an import on the upload page and in `geomap import`, `geomap geocode` and the demo build.
    `keys` limits both to those testimonies (an import's own rows): the others' links do not
    change when testimonies are added."""
    from .corroboration import run_linking
    from .policy import SYSTEM
    from .store.links import LinkStore

    gaz = Gazetteer.from_store(store, SYSTEM)
    located = geocode_pending(store, gaz, actor=actor, keys=keys)
    if keys is None:
        return located, run_linking(store, gaz)
    ids = LinkStore(store).ids_of_keys(keys)
    counts: dict = {"testimonies": 0, "sites": 0, "proposed": 0, "ambiguous": 0, "stored": 0}
    for i in range(0, max(len(ids), 1), LINK_CHUNK):  # memory bounded by a chunk, not a file
        part = run_linking(store, gaz, ids=ids[i:i + LINK_CHUNK])
        counts = {k: part[k] if k == "sites" else counts[k] + part[k] for k in counts}
    return located, counts


LINK_CHUNK = 20_000  # testimonies linked at once after an import


def review_items(store: StoreLike) -> list[dict]:
    out = []
    for r in sql.review_rows(store):
        kind, authority = qualifiers(r.place_text or "")
        out.append({"testimony_id": r.testimony_id, "place_text": r.place_text,
                    "reason": r.reason, "candidates": json.loads(r.candidates),
                    "kind": kind, "authority": authority})
    return out


# -- a researcher's decisions on the review list -------------------------------------------

MAX_RADIUS_M = 100_000.0


def _review_item(store: StoreLike, testimony_id: int) -> dict:
    from .errors import NotFound
    from .store.geocoding import review_item

    item = review_item(store, testimony_id)
    if item is None:
        raise NotFound(f"testimony {testimony_id} is not awaiting a place-name decision")
    return item


def choose_candidate(store: StoreLike, testimony_id: int, index, actor: str) -> dict:
    """The researcher picks candidate `index` of the review entry: the testimony takes its
    location (a relative description in the place text still applies), audited."""
    from .errors import InvalidInput
    from .store.geocoding import set_researcher_location, site_precisions

    item = _review_item(store, testimony_id)
    try:
        i = int(index)
        if i < 0:
            raise IndexError
        c = item["candidates"][i]
    except (TypeError, ValueError, IndexError):
        raise InvalidInput(f"candidate: no candidate {index!r} for this testimony",
                           field="candidate") from None
    cand = Candidate(c["name"], c["kind"], c["ref"], c["lon"], c["lat"], c["admin1"],
                     c["score"], c["matched"], c.get("facility_type") or "",
                     c.get("authority"), c.get("name_ko"))
    if cand.lon is None and cand.kind != KIND_PROVINCE:
        raise InvalidInput(f"candidate: {cand.name} has no coordinates; place a point instead",
                           field="candidate")
    site_radius = {k: PRECISION_MAX_RADIUS_M.get(Precision(p), 10_000.0)
                   for k, p in site_precisions(store).items()}
    try:
        rel = parse_relative(item["place_text"] or "")
    except Exception:  # noqa: BLE001 - unreadable description: the place itself
        rel = None
    kind, authority = qualifiers(rel.place if rel else item["place_text"] or "")
    d = place_decision(cand, rel, site_radius, kind, authority)
    admin = admin_columns(store, d.point)
    if d.point is None:
        units = {u.name_en: u.id for u in store.boundary_units(1)}
        admin["admin1_id"] = units.get(cand.name)
    return set_researcher_location(
        store, testimony_id, actor, "geocode.choose", d.point, d.radius_m, str(d.precision),
        "chosen by a researcher: " + evidence_note(d), admin,
        {"candidate": cand.as_dict(), "place_text_kind": kind, "authority": authority})


def place_point(store: StoreLike, testimony_id: int, lat, lon, radius_m, actor: str) -> dict:
    """The researcher places a point with a radius on the map, audited."""
    from .errors import InvalidInput
    from .store.geocoding import set_researcher_location

    def number(v, name, lo, hi):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: a number is required, got {v!r}", field=name) from None
        if not (lo <= x <= hi) or x != x:
            raise InvalidInput(f"{name}: must be between {lo:g} and {hi:g}, got {v!r}",
                               field=name)
        return x

    la = number(lat, "lat", -90, 90)
    lo = number(lon, "lon", -180, 180)
    r = number(radius_m, "radius_m", 1, MAX_RADIUS_M)
    _review_item(store, testimony_id)
    point = Point(round(lo, 6), round(la, 6))
    precision = precision_for_radius(r)
    if precision == Precision.ADMIN_UNIT:
        precision = Precision.AREA  # a point is never "admin unit only"; the radius says how wide
    return set_researcher_location(
        store, testimony_id, actor, "geocode.place", point, r, str(precision),
        f"placed on the map by a researcher ({r:g} m)", admin_columns(store, point),
        {"lat": la, "lon": lo, "radius_m": r})


def mark_unlocatable(store: StoreLike, testimony_id: int, actor: str) -> dict:
    """The researcher decides the place cannot be located: it leaves the list, no point."""
    from .store.geocoding import set_researcher_location

    _review_item(store, testimony_id)
    return set_researcher_location(
        store, testimony_id, actor, "geocode.unlocatable", None, None, None,
        "cannot be located (researcher)", admin_columns(store, None), {})
