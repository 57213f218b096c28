"""New sites proposed from testimonies no listed site explains, and promoting one to a site.

Input: located testimonies with no candidate, ambiguous or confirmed link (a rejected link
explains nothing) that also lie beyond the reach of every listed site (distance >
2 * sqrt(r_t^2 + r_site^2), r_site from the site's extent when known, else its precision).

Grouping is density-based in metres (UTM 52N) and cannot chain. Two testimonies are
neighbours when they lie within max(EPS_MIN_M, r_i + r_j), capped at MAX_REACH_M, and their
periods can share a day. A seed is a testimony whose neighbourhood holds enough testimonies
from enough distinct witnesses; the densest seed takes its own neighbours (not theirs: no
transitive growth), they leave the pool, and the next seed is tried on what is left. So
every member lies within its own reach of the seed and a group's diameter is bounded by its
members' radii, however long a line of overlapping circles is.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry import Point

from .errors import GeomapError, InvalidInput
from .link_model import ADMIN_UNIT_RADIUS_M, METRIC
from .messages import N_, Message
from .model import PRECISION_MAX_RADIUS_M, FacilityType, Precision, Site, Tier

if TYPE_CHECKING:
    from .store.protocol import StoreLike

EPS_MIN_M = 300.0        # precise accounts a few hundred metres apart still describe one place
MAX_REACH_M = 5_000.0    # no two accounts farther apart than this are one facility's evidence
MIN_TESTIMONIES = 3
MIN_WITNESSES = 2
MIN_RADIUS_M = 100.0
ENGINE = "proposal"


class ProposalGone(GeomapError):
    """The proposal no longer exists (its testimonies were linked or changed since)."""


@dataclass
class Proposal:
    id: str                  # stable: a hash of the sorted member ids
    lon: float
    lat: float
    radius_m: float
    testimony_ids: list[int]
    witnesses: int
    place_names: list[str]   # most frequent first
    period_start: str | None  # ISO dates: the earliest start and the latest end of members
    period_end: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def proposal_id(testimony_ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(testimony_ids)).encode()).hexdigest()[:16]


def _ordinal(d) -> float:
    return float(d.toordinal()) if d is not None else np.nan


def site_radius_m(s: Site) -> float:
    """How far from its point a listed site may reach: its extent's radius when known, else
    its precision class's bound."""
    if s.extent_km2:
        return math.sqrt(s.extent_km2 / math.pi) * 1000
    return PRECISION_MAX_RADIUS_M.get(Precision(s.precision), ADMIN_UNIT_RADIUS_M)


def within_site_reach(lon: np.ndarray, lat: np.ndarray, radius: np.ndarray,
                      sites: list[Site]) -> np.ndarray:
    """Mask of testimonies lying within reach of any listed site:
    distance <= 2 * sqrt(r_t^2 + r_site^2)."""
    n = len(lon)
    hit = np.zeros(n, dtype=bool)
    located = [s for s in sites if s.geometry is not None]
    if n == 0 or not located:
        return hit
    sx, sy = (np.asarray(v) for v in METRIC.transform([s.geometry.x for s in located],
                                                       [s.geometry.y for s in located]))
    sr = np.array([site_radius_m(s) for s in located])
    tx, ty = (np.asarray(v) for v in METRIC.transform(lon, lat))
    tree = shapely.STRtree(shapely.points(sx, sy))
    reach = 2 * np.sqrt(radius ** 2 + sr.max() ** 2)  # the widest any site could reach
    ti, si = tree.query(shapely.points(tx, ty), predicate="dwithin", distance=reach)
    d = np.hypot(tx[ti] - sx[si], ty[ti] - sy[si])
    ok = d <= 2 * np.sqrt(radius[ti] ** 2 + sr[si] ** 2)
    hit[ti[ok]] = True
    return hit


def cluster(inputs: Mapping[str, Any], *, eps_min_m: float = EPS_MIN_M,
            max_reach_m: float = MAX_REACH_M, min_testimonies: int = MIN_TESTIMONIES,
            min_witnesses: int = MIN_WITNESSES) -> list[Proposal]:
    """Groups of testimonies (columns id, lon, lat, radius, place, start, end, witness) that
    agree in place and period, without chaining; best supported first."""
    n = len(inputs["id"])
    if n == 0:
        return []
    tx, ty = (np.asarray(v, dtype=float) for v in METRIC.transform(inputs["lon"], inputs["lat"]))
    r = np.asarray(inputs["radius"], dtype=float)
    pts = shapely.points(tx, ty)
    a, b = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=max_reach_m)
    d = np.hypot(tx[a] - tx[b], ty[a] - ty[b])
    reach = np.minimum(np.maximum(eps_min_m, r[a] + r[b]), max_reach_m)
    t0 = np.array([_ordinal(x) for x in inputs["start"]])
    t1 = np.array([_ordinal(x) for x in inputs["end"]])
    with np.errstate(invalid="ignore"):
        # unknown ends (NaN) can share any day
        apart = np.fmax(t0[a], t0[b]) > np.fmin(t1[a], t1[b])
    keep = (d <= reach) & ~apart  # includes each point with itself
    a, b, d = a[keep], b[keep], d[keep]
    witness = list(inputs["witness"])
    neigh: list[list[int]] = [[] for _ in range(n)]
    dist: list[list[float]] = [[] for _ in range(n)]
    for i, j, dd in zip(a.tolist(), b.tolist(), d.tolist(), strict=True):
        neigh[i].append(j)
        dist[i].append(dd)

    def support(i: int, pool: np.ndarray) -> tuple[list[int], int]:
        m = [j for j in neigh[i] if pool[j]]
        return m, len({witness[j] for j in m})

    # densest first: most witnesses, most testimonies, then the most central (smallest
    # summed distance to its neighbours); ids break ties so the order is stable
    pool = np.ones(n, dtype=bool)

    def rank(i: int) -> tuple:
        m, w = support(i, pool)
        return (-w, -len(m), sum(dist[i]), int(inputs["id"][i]))

    groups: list[list[int]] = []
    order = sorted(range(n), key=rank)  # ranked on the full pool, before any group is taken
    for i in order:
        if not pool[i]:
            continue
        m, w = support(i, pool)
        if len(m) < min_testimonies or w < min_witnesses:
            continue
        groups.append(m)
        pool[m] = False
    out = [_proposal(g, inputs, tx, ty, r) for g in groups]
    return sorted(out, key=lambda p: (-p.witnesses, -len(p.testimony_ids), p.id))


def _proposal(members: list[int], inputs: Mapping[str, Any], tx, ty, r) -> Proposal:
    idx = np.array(members)
    w = 1 / np.maximum(r[idx], 10.0) ** 2  # precise accounts count more
    cx, cy = float((tx[idx] * w).sum() / w.sum()), float((ty[idx] * w).sum() / w.sum())
    spread = math.sqrt(float((w * ((tx[idx] - cx) ** 2 + (ty[idx] - cy) ** 2)).sum() / w.sum()))
    lon, lat = METRIC.transform(cx, cy, direction="INVERSE")
    ids = sorted(int(inputs["id"][i]) for i in members)
    names = Counter(p.strip() for i in members if (p := inputs["place"][i]) and p.strip())
    starts = [s for i in members if (s := inputs["start"][i]) is not None]
    ends = [e for i in members if (e := inputs["end"][i]) is not None]
    return Proposal(
        id=proposal_id(ids), lon=round(float(lon), 6), lat=round(float(lat), 6),
        radius_m=float(round(max(spread, MIN_RADIUS_M))), testimony_ids=ids,
        witnesses=len({inputs["witness"][i] for i in members}),
        place_names=[p for p, _ in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))][:5],
        period_start=min(starts).isoformat() if starts else None,
        period_end=max(ends).isoformat() if ends else None)


def unexplained(store: StoreLike, viewer) -> dict:
    """Located testimonies `viewer` may see that no listed site explains: no active link and
    beyond every listed site's reach (every site counts, whatever its tier)."""
    from .policy import SYSTEM
    from .store.proposals import unexplained_inputs

    inputs = unexplained_inputs(store, viewer)
    far = ~within_site_reach(inputs["lon"], inputs["lat"], inputs["radius"],
                             store.sites(SYSTEM))
    return {k: (v[far] if isinstance(v, np.ndarray) else [x for x, f in zip(v, far, strict=True)
                                                           if f])
            for k, v in inputs.items()}


def proposals_for(store: StoreLike, viewer, **kw) -> list[Proposal]:
    """The current proposals from the testimonies `viewer` may see."""
    return cluster(unexplained(store, viewer), **kw)


def precision_for(radius_m: float) -> Precision:
    """A promoted site's precision from its proposal's radius."""
    if radius_m <= 100:
        return Precision.VICINITY
    if radius_m <= 1000:
        return Precision.LOCALITY
    return Precision.AREA


def validate_promotion(fields: Mapping[str, Any]) -> dict:
    """name, name_ko, facility_type, tier from a promotion form; InvalidInput names the field."""
    def text(k: str) -> str:
        return str(fields.get(k) or "").strip()

    name, name_ko = text("name"), text("name_ko") or None
    if not name:
        raise InvalidInput(Message(N_("The English name is required.")), field="name")
    if len(name) > 200 or len(name_ko or "") > 200:
        raise InvalidInput(Message(N_("At most %(max)s characters."), max=200),
                           field="name" if len(name) > 200 else "name_ko")
    try:
        ftype = FacilityType(text("facility_type"))
    except ValueError:
        raise InvalidInput(Message(N_("Choose a facility type from the list.")),
                           field="facility_type") from None
    try:
        tier = Tier(text("tier") or "internal")
    except ValueError:
        raise InvalidInput(Message(N_("Choose a tier from the list.")), field="tier") from None
    return {"name": name, "name_ko": name_ko, "facility_type": ftype, "tier": tier}


def _promotion_evidence(store: StoreLike, p: Proposal, viewer) -> dict[int, dict]:
    """Each member's link evidence, with the fields the review queue shows for any link
    (distance to the new site's point, both radii, no name match)."""
    from .store.proposals import member_rows

    cx, cy = METRIC.transform(p.lon, p.lat)
    out = {}
    for m in member_rows(store, p.testimony_ids, viewer, with_codes=False):
        x, y = METRIC.transform(m["lon"], m["lat"])
        out[m["id"]] = {
            "note": "promoted from proposal", "promoted_from_proposal": p.id,
            "distance_m": round(math.hypot(x - cx, y - cy)),
            "testimony_radius_m": float(m["radius_m"]), "site_radius_m": p.radius_m,
            "site_extent_m": 0, "name_match": None, "name_score": 0, "witnesses": p.witnesses}
    return out


def promote(store: StoreLike, pid: str, fields: Mapping[str, Any], actor: str, viewer) -> Site:
    """Make proposal `pid` a listed site and its testimonies candidate links to it, in one
    audited transaction (site.promote). The proposals are computed again: ProposalGone when
    `pid` is no longer among them (or was promoted already)."""
    from .boundaries import tagger_for
    from .store import site_writes
    from .store.proposals import add_candidate_links, any_active_link

    v = validate_promotion(fields)
    p = next((x for x in proposals_for(store, viewer) if x.id == pid), None)
    if p is None:
        raise ProposalGone(pid)
    key = base = f"proposed-{p.id[:10]}"
    with store.read() as conn:
        taken = site_writes.keys_like(conn, base)
    n = 2
    while key in taken:  # an earlier promotion of this group whose links were all rejected
        key, n = f"{base}-{n}", n + 1
    point = Point(p.lon, p.lat)
    site = Site(key=key, name=v["name"], name_ko=v["name_ko"], facility_type=v["facility_type"],
                geometry=point, precision=precision_for(p.radius_m), location_status="reported",
                tier=v["tier"], admin1=tagger_for(store).tag([point])[0])
    details = {
        "proposal": p.id, "testimonies": len(p.testimony_ids), "witnesses": p.witnesses,
        "site": {"key": key, "name": site.name, "name_ko": site.name_ko,
                 "facility_type": str(site.facility_type), "tier": str(site.tier),
                 "precision": str(site.precision), "lon": p.lon, "lat": p.lat,
                 "radius_m": p.radius_m},
    }
    evidence = _promotion_evidence(store, p, viewer)
    with store.audited(actor, "site.promote", key, details) as conn:
        # read again inside the write: a promotion or linking that landed since explains them
        if any_active_link(conn, p.testimony_ids) or site_writes.key_taken(conn, key):
            raise ProposalGone(pid)
        site_writes.insert_site(conn, store, site)
        add_candidate_links(conn, site.id, evidence, ENGINE)
    return site
