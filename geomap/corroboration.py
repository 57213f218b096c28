"""Linking testimonies to sites, and how strongly each site is corroborated.

A testimony is a point with an uncertainty radius; a site is a point whose precision says how
far the facility may extend (a political prison camp is tens of km2). For every testimony the
engine finds the sites within reach (STRtree over sites in UTM 52N metres), and scores each
by distance against the combined uncertainty sqrt(r_testimony^2 + r_site^2), the name the
witness gave (through the gazetteer), the overlap of periods (when the site's period is known)
and whether the violations described fit the facility type. The best site above the threshold
is proposed as a candidate link, with all of this kept as evidence and the runner-up named, so
a person can confirm, reject or choose the other site quickly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from .gazetteer import KIND_PLACE, KIND_SITE, Gazetteer
from .model import PRECISION_MAX_RADIUS_M, FacilityType, Precision, Site

ENGINE = "geomap-link-1"
METRIC = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True)
REACH = 2.5            # look this many combined sigmas away
# A site's precision class gives how far the facility may extend from its point at most; a
# witness's point inside the facility is spread about half that far, so the site's sigma is
# half its radius (with the full radius, neighbouring camps 6-10 km apart could not be told
# apart by distance at all)
SITE_SIGMA_FRACTION = 0.5
W_DISTANCE, W_NAME = 0.65, 0.35
THRESHOLD = 0.45
# two sites scoring within this of each other cannot be told apart by the evidence (twin
# MSS/MPS centres 60 m apart, camps sharing a town's name): both go to review, none is guessed
AMBIGUOUS_MARGIN = 0.03
TOWN_NEAR_SITE_M = 25_000
# violations that do not fit a facility type (a weak signal, recorded and lightly penalised)
UNLIKELY = {
    FacilityType.KURYUJANG: {"forced_labour", "starvation", "public_execution"},
    FacilityType.JIPKYULSO: {"public_execution", "enforced_disappearance"},
}


@dataclass(frozen=True)
class SiteRef:
    id: int
    key: str
    name: str
    x: float
    y: float
    lon: float
    lat: float
    radius_m: float
    facility_type: FacilityType
    start: object
    end: object


def site_refs(sites: list[Site]) -> list[SiteRef]:
    out = []
    for s in sites:
        if s.geometry is None or s.id is None:
            continue
        x, y = METRIC.transform(s.geometry.x, s.geometry.y)
        radius = PRECISION_MAX_RADIUS_M.get(Precision(s.precision), 10_000.0)
        out.append(SiteRef(s.id, s.key, s.name, x, y, s.geometry.x, s.geometry.y, radius,
                           FacilityType(s.facility_type),
                           s.period.earliest if s.period else None,
                           s.period.latest if s.period else None))
    return out


class NameEvidence:
    """Which sites a place name points at, through the gazetteer (cached per distinct name)."""

    def __init__(self, gaz: Gazetteer | None, sites: list[SiteRef]):
        self.gaz = gaz
        self.sites = sites
        self.xy = np.array([[s.x, s.y] for s in sites]) if sites else np.zeros((0, 2))
        self.cache: dict[str, dict[int, tuple[float, str]]] = {}
        self.site_pos = {s.id: i for i, s in enumerate(sites)}

    def for_name(self, text: str | None) -> dict[int, tuple[float, str]]:
        """site id -> (0..1 support, what matched)."""
        if not text or self.gaz is None:
            return {}
        if text in self.cache:
            return self.cache[text]
        out: dict[int, tuple[float, str]] = {}
        by_key = {s.key: s for s in self.sites}
        for c in self.gaz.lookup(text, limit=5):
            if c.score < 85:
                continue
            if c.kind == KIND_SITE and c.ref in by_key:
                sid = by_key[c.ref].id
                # an exact name is strong; a near one ("... MSS ..." for "... MPS ...") much less
                support = (c.score / 100) ** 4
                out[sid] = max(out.get(sid, (0, "")), (support, f"site name {c.matched!r}"))
            elif c.kind == KIND_PLACE and c.lon is not None and len(self.sites):
                x, y = METRIC.transform(c.lon, c.lat)
                d = np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)
                for i in np.nonzero(d <= TOWN_NEAR_SITE_M)[0]:
                    sid = self.sites[i].id
                    support = 0.5 * c.score / 100
                    if out.get(sid, (0, ""))[0] < support:
                        out[sid] = (support, f"town {c.name} {d[i] / 1000:.0f} km away")
        self.cache[text] = out
        return out


def _overlap_years(s0, s1, t0, t1) -> float | None:
    """Overlap of two periods in years (None when either is unknown); negative = a gap."""
    if s0 is None and s1 is None or t0 is None and t1 is None:
        return None
    lo = max(d for d in (s0, t0) if d is not None) if (s0 or t0) else None
    hi = min(d for d in (s1, t1) if d is not None) if (s1 or t1) else None
    if lo is None or hi is None:
        return None
    return round((hi - lo).days / 365.25, 1)


_VIOLATION_BITS: dict[str, int] = {}


def _bits(codes: str | None) -> int:
    out = 0
    for c in (codes or "").split(","):
        if c:
            out |= _VIOLATION_BITS.setdefault(c, 1 << len(_VIOLATION_BITS))
    return out


def _ordinal(d) -> float:
    return float(d.toordinal()) if d is not None else np.nan


def propose(
    inputs: dict, sites: list[SiteRef], names: NameEvidence, threshold: float = THRESHOLD,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """One candidate link per testimony (the best site above `threshold`), with evidence; two
    (status "ambiguous") when the best two sites cannot be told apart. Vectorised over all
    (testimony, site) pairs within reach."""
    n_t = len(inputs["id"])
    if not sites or n_t == 0:
        return []
    sxy = np.array([[s.x, s.y] for s in sites])
    srad = np.array([s.radius_m for s in sites]) * SITE_SIGMA_FRACTION
    tree = shapely.STRtree(shapely.points(sxy))
    tx, ty = (np.asarray(v) for v in METRIC.transform(inputs["lon"], inputs["lat"]))
    trad = np.asarray(inputs["radius"], dtype=float)
    reach = REACH * np.sqrt(trad ** 2 + srad.max() ** 2)
    t_idx, s_idx = tree.query(shapely.points(tx, ty), predicate="dwithin", distance=reach)
    d = np.hypot(tx[t_idx] - sxy[s_idx, 0], ty[t_idx] - sxy[s_idx, 1])
    sigma = np.sqrt(trad[t_idx] ** 2 + srad[s_idx] ** 2)
    keep = d <= REACH * sigma
    t_idx, s_idx, d, sigma = t_idx[keep], s_idx[keep], d[keep], sigma[keep]
    dist_score = np.exp(-0.5 * (d / sigma) ** 2)
    score = W_DISTANCE * dist_score

    # names: only testimonies that give one, through the per-name cache
    support = np.zeros(len(t_idx))
    matched: dict[int, str] = {}
    for k in np.nonzero([bool(inputs["place"][t]) for t in t_idx])[0] if len(t_idx) else []:
        sup = names.for_name(inputs["place"][t_idx[k]]).get(sites[s_idx[k]].id)
        if sup:
            support[k], matched[int(k)] = sup
    score += W_NAME * support

    # periods: a gap between the testimony and the site's known operation costs 0.2
    s0 = np.array([_ordinal(s.start) for s in sites])[s_idx]
    s1 = np.array([_ordinal(s.end) for s in sites])[s_idx]
    t0 = np.array([_ordinal(x) for x in inputs["start"]])[t_idx]
    t1 = np.array([_ordinal(x) for x in inputs["end"]])[t_idx]
    with np.errstate(invalid="ignore"):
        gap = (np.fmax(s0, t0) > np.fmin(s1, t1))  # NaN compares False: unknown is no gap
    score -= 0.2 * gap

    # facility type against the violations described (a weak signal)
    tbits = np.array([_bits(v) for v in inputs["violations"]], dtype=np.int64)[t_idx]
    unlikely = {ft: _bits(",".join(v)) for ft, v in UNLIKELY.items()}
    sbits = np.array([unlikely.get(s.facility_type, 0) for s in sites], dtype=np.int64)[s_idx]
    mismatch = (tbits & sbits) != 0
    score -= 0.05 * mismatch

    # best and runner-up per testimony
    order = np.lexsort((-score, t_idx))
    t_sorted = t_idx[order]
    first = np.r_[0, np.nonzero(np.diff(t_sorted))[0] + 1] if len(order) else np.array([], int)
    out: list[dict] = []
    for n, f in enumerate(first):
        b = order[f]
        r = order[f + 1] if f + 1 < len(order) and t_sorted[f + 1] == t_sorted[f] else None
        tied = r is not None and score[b] - score[r] < AMBIGUOUS_MARGIN
        for k, other in ([(b, r), (r, b)] if tied else [(b, r)]):
            if score[k] < threshold:
                continue
            site = sites[s_idx[k]]
            ti = t_idx[k]
            overlap = None
            if not (np.isnan(s0[k]) and np.isnan(s1[k])):
                overlap = _overlap_years(site.start, site.end, inputs["start"][ti],
                                         inputs["end"][ti])
            out.append({
                "testimony_id": int(inputs["id"][ti]), "site_id": site.id,
                "score": round(float(score[k]), 4),
                "status": "ambiguous" if tied else "candidate",
                "evidence": {
                    "distance_m": round(float(d[k])), "testimony_radius_m": float(trad[ti]),
                    "site_radius_m": site.radius_m, "combined_m": round(float(sigma[k])),
                    "distance_score": round(float(dist_score[k]), 3),
                    "name_score": round(float(support[k]), 3),
                    "name_match": matched.get(int(k)), "overlap_years": overlap,
                    "type_mismatch": bool(mismatch[k]),
                    "runner_up": ({"site_id": sites[s_idx[other]].id,
                                   "name": sites[s_idx[other]].name,
                                   "score": round(float(score[other]), 4)}
                                  if other is not None else None),
                },
            })
        if progress and n and n % 20_000 == 0:
            progress(n)
    return out


def run_linking(store, gaz: Gazetteer | None, threshold: float = THRESHOLD,
                progress: Callable[[int], None] | None = None) -> dict:
    """Propose links for all located testimonies; decisions by people are kept."""
    from .policy import SYSTEM
    from .store.links import LinkStore

    ls = LinkStore(store)
    sites = site_refs(store.sites(SYSTEM))
    inputs = ls.testimony_inputs()
    proposals = propose(inputs, sites, NameEvidence(gaz, sites), threshold, progress)
    stored = ls.replace_candidates(proposals, ENGINE)
    return {"testimonies": int(len(inputs["id"])), "sites": len(sites),
            "proposed": sum(1 for p in proposals if p["status"] == "candidate"),
            "ambiguous": len({p["testimony_id"] for p in proposals if p["status"] == "ambiguous"}),
            "stored": stored}


def link_testimonies(store, gaz: Gazetteer | None, ids: list[int],
                     threshold: float = THRESHOLD) -> int:
    """Propose links for these testimonies only (one a researcher just located)."""
    from .policy import SYSTEM
    from .store.links import LinkStore

    ls = LinkStore(store)
    sites = site_refs(store.sites(SYSTEM))
    proposals = propose(ls.testimony_inputs(ids), sites, NameEvidence(gaz, sites), threshold)
    return ls.replace_candidates_for(list(ids), proposals, ENGINE)


def evaluate(store) -> dict:
    """Precision and recall of proposed links against the synthetic generator's ground truth."""
    from .store.links import LinkStore

    truth = store.synthetic_truth()
    predicted = {(row["testimony_id"], row["site_id"])
                 for row in LinkStore(store).all("candidate")}
    pred_by_t = {t: s for t, s in predicted}
    located = set(LinkStore(store).testimony_inputs()["id"].tolist())
    relevant = {t: s for t, (s, kind) in truth.items() if kind == "site" and t in located}
    tp = sum(1 for t, s in pred_by_t.items() if truth.get(t, (None,))[0] == s
             and truth.get(t, (None, ""))[1] != "no_site")
    precision = tp / len(pred_by_t) if pred_by_t else math.nan
    recall = sum(1 for t, s in relevant.items() if pred_by_t.get(t) == s) / len(relevant) \
        if relevant else math.nan
    return {"predicted": len(pred_by_t), "relevant": len(relevant), "true_positives": tp,
            "precision": precision, "recall": recall}


# -- independence and grading ------------------------------------------------------------------
FIRST_HAND = {"detained", "saw_directly"}


@dataclass(frozen=True)
class GradeRule:
    """Thresholds (in settings) and the rule as shown to people."""

    corroborated: int = 2   # independent witnesses
    strong: int = 3         # independent witnesses, of which `strong_first_hand` first-hand
    strong_first_hand: int = 2

    def grade(self, witnesses: int, first_hand: int) -> str:
        if witnesses >= self.strong and first_hand >= self.strong_first_hand:
            return "strongly_corroborated"
        if witnesses >= self.corroborated:
            return "corroborated"
        if witnesses >= 1:
            return "single_source"
        return "no_confirmed_testimony"

    @classmethod
    def from_settings(cls, settings) -> GradeRule:
        return cls(settings.grade_corroborated, settings.grade_strong,
                   settings.grade_strong_first_hand)

    def describe(self) -> str:
        return str(self.message())

    def message(self):
        """The rule as a translatable message (pages show it in the reader's language)."""
        from .messages import N_, Message

        return Message(N_(
            "single source: 1 independent witness; corroborated: %(corroborated)s or more; "
            "strongly corroborated: %(strong)s or more, of whom at least %(first_hand)s were "
            "detained there or saw it directly. Several testimonies by one witness count as "
            "one witness."), corroborated=self.corroborated, strong=self.strong,
            first_hand=self.strong_first_hand)


def site_evidence(rows: list[dict], rule: GradeRule, site_start=None, site_end=None) -> dict:
    """Summary of a site's confirmed testimonies. `rows`: dicts with witness_ref,
    relationship, period_text/period_start/period_end, violations (list)."""
    from collections import Counter

    by_witness: dict[str, list[dict]] = {}
    for r in rows:
        by_witness.setdefault(r["witness_ref"], []).append(r)
    rank = ["detained", "saw_directly", "heard_from_victim", "hearsay", None]
    relationships = Counter()
    for accounts in by_witness.values():  # a witness counts once, at their closest relation
        best = min((a.get("relationship") for a in accounts),
                   key=lambda x: rank.index(x) if x in rank else len(rank))
        relationships[best or "unknown"] += 1
    first_hand = sum(n for rel, n in relationships.items() if rel in FIRST_HAND)
    conflicts = [r for r in rows if _overlap_years(site_start, site_end, r.get("period_start"),
                                                   r.get("period_end")) is not None
                 and _overlap_years(site_start, site_end, r.get("period_start"),
                                    r.get("period_end")) < 0]
    violations = Counter(v for r in rows for v in r.get("violations") or [])
    witnesses = len(by_witness)
    return {
        "testimonies": len(rows), "witnesses": witnesses, "first_hand_witnesses": first_hand,
        "relationships": dict(relationships), "violations": dict(violations),
        "periods": sorted({r["period_text"] for r in rows if r.get("period_text")}),
        "conflicting_periods": len(conflicts), "grade": rule.grade(witnesses, first_hand),
        "rule": rule.describe(),
    }


# -- new sites from testimony clusters ----------------------------------------------------------
@dataclass
class SiteProposal:
    lon: float
    lat: float
    radius_m: float
    testimony_ids: list[int]
    witnesses: int
    place_names: list[str]


def propose_new_sites(inputs: dict, witness_refs: list[str], min_testimonies: int = 3,
                      min_witnesses: int = 2) -> list[SiteProposal]:
    """Groups of testimonies linked to no site that agree in place and period.

    Two testimonies agree when their uncertainty circles overlap (distance <= r1 + r2) and
    their periods can share a day; groups are the connected components of that relation
    (union-find over STRtree neighbours). A group is proposed when it holds enough testimonies
    from enough independent witnesses; its point is the mean weighted by 1/r^2 (precise
    accounts count more) and its radius covers the members' points.
    """
    n = len(inputs["id"])
    if n == 0:
        return []
    tx, ty = (np.asarray(v) for v in METRIC.transform(inputs["lon"], inputs["lat"]))
    r = np.asarray(inputs["radius"], dtype=float)
    tree = shapely.STRtree(shapely.points(tx, ty))
    a, b = tree.query(shapely.points(tx, ty), predicate="dwithin", distance=r + r.max())
    keep = (a < b) & (np.hypot(tx[a] - tx[b], ty[a] - ty[b]) <= r[a] + r[b])
    a, b = a[keep], b[keep]
    t0 = np.array([_ordinal(x) for x in inputs["start"]])
    t1 = np.array([_ordinal(x) for x in inputs["end"]])
    with np.errstate(invalid="ignore"):
        apart = np.fmax(t0[a], t0[b]) > np.fmin(t1[a], t1[b])
    a, b = a[~apart], b[~apart]
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        pi, pj = find(i), find(j)
        if pi != pj:
            parent[pi] = pj
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        refs = {witness_refs[i] for i in members}
        if len(members) < min_testimonies or len(refs) < min_witnesses:
            continue
        idx = np.array(members)
        w = 1 / np.maximum(r[idx], 10) ** 2
        cx, cy = float((tx[idx] * w).sum() / w.sum()), float((ty[idx] * w).sum() / w.sum())
        spread = float(np.max(np.hypot(tx[idx] - cx, ty[idx] - cy)))
        lon, lat = METRIC.transform(cx, cy, direction="INVERSE")
        names = sorted({inputs["place"][i] for i in members if inputs["place"][i]})
        out.append(SiteProposal(round(lon, 6), round(lat, 6), round(max(spread, 100.0)),
                                sorted(int(inputs["id"][i]) for i in members), len(refs),
                                names[:10]))
    return sorted(out, key=lambda p: (-p.witnesses, -len(p.testimony_ids)))
