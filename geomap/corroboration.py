"""Linking testimonies to sites, and how strongly each site is corroborated.

A testimony is a point with an uncertainty radius; a site is a point with a location precision
and, for camps, an extent. For every testimony the engine finds the sites within reach
(STRtree over sites in UTM 52N metres) and computes the probability that the testimony speaks
of each of them or of a facility not on the list (geomap.link_model: distance under a
heavy-tailed model, the kind, authority, number and name words of the place text, operating
years, violations). The best site is proposed as a candidate link when it is probable enough,
with all of this kept as evidence and the runner-up named, so a person can confirm, reject or
choose the other site quickly; twins the evidence cannot separate go to a person together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from .gazetteer import Gazetteer
from .link_model import (
    BACKGROUND_PER_M2,
    LINK_PROBABILITY,
    METRIC,
    PERIOD_SLACK_YEARS,
    REVIEW_PROBABILITY,
    REVIEW_SECOND,
    TYPE_MISMATCH,
    UNLIKELY,
    SiteRef,
    TextEvidence,
    log_distance_density,
    log_period_factor,
    rounding_sigma_m,
    site_refs,
)

if TYPE_CHECKING:
    from .store.protocol import StoreLike

ENGINE = "geomap-link-2"
THRESHOLD = LINK_PROBABILITY
REACH_SCALES = 8.0   # pairs farther than this many scales (beyond the extent) are not scored


def _ordinal(d) -> float:
    return float(d.toordinal()) if d is not None else np.nan


_VIOLATION_BITS: dict[str, int] = {}


def _bits(codes: str | None) -> int:
    out = 0
    for c in (codes or "").split(","):
        if c:
            out |= _VIOLATION_BITS.setdefault(c, 1 << len(_VIOLATION_BITS))
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


# kept under its old name: callers build the per-text evidence once for many testimonies
NameEvidence = TextEvidence


def propose(
    inputs: dict, sites: list[SiteRef], names: TextEvidence, threshold: float = THRESHOLD,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Candidate links with their posterior probability (see geomap.link_model): one per
    testimony whose best site reaches `threshold`; two (status "ambiguous") when the best two
    sites hold most of the probability together and neither reaches it alone. Vectorised
    over all (testimony, site) pairs within reach."""
    n_t = len(inputs["id"])
    if not sites or n_t == 0:
        return []
    sxy = np.array([[s.x, s.y] for s in sites])
    s_sigma = np.array([s.sigma_m for s in sites])
    tree = shapely.STRtree(shapely.points(sxy))
    lon, lat = np.asarray(inputs["lon"], float), np.asarray(inputs["lat"], float)
    tx, ty = (np.asarray(v) for v in METRIC.transform(lon, lat))
    trad = np.asarray(inputs["radius"], dtype=float)
    t_round2 = rounding_sigma_m(lon, lat) ** 2
    reach = REACH_SCALES * np.sqrt(trad ** 2 + t_round2 + s_sigma.max() ** 2)
    t_idx, s_idx = tree.query(shapely.points(tx, ty), predicate="dwithin", distance=reach)
    d = np.hypot(tx[t_idx] - sxy[s_idx, 0], ty[t_idx] - sxy[s_idx, 1])
    scale2 = trad[t_idx] ** 2 + t_round2[t_idx] + s_sigma[s_idx] ** 2
    keep = d <= REACH_SCALES * np.sqrt(scale2)
    t_idx, s_idx, d, scale2 = t_idx[keep], s_idx[keep], d[keep], scale2[keep]
    log_dist = log_distance_density(d, scale2)
    log_l = log_dist.copy()

    # what was said: per distinct text, factors for every site and for "not on the list"
    log_none = np.full(n_t, math.log(BACKGROUND_PER_M2))
    text_of: dict[str, int] = {}
    factors: list = []
    text_id = np.full(n_t, -1)
    for t in np.unique(t_idx).tolist():
        place = inputs["place"][t]
        if not place:
            continue
        if place not in text_of:
            tf = names.for_text(place)
            if tf is None:
                continue
            text_of[place] = len(factors)
            factors.append(tf)
        text_id[t] = text_of[place]
        log_none[t] += factors[text_id[t]].log_none
    log_text = np.zeros(len(t_idx))
    if factors:
        table = np.vstack([tf.log_site for tf in factors])
        has = text_id[t_idx] >= 0
        log_text[has] = table[text_id[t_idx][has], s_idx[has]]
    log_l += log_text

    # when: years outside the site's operating years
    s0 = np.array([_ordinal(s.start) for s in sites])[s_idx]
    s1 = np.array([_ordinal(s.end) for s in sites])[s_idx]
    t0 = np.array([_ordinal(x) for x in inputs["start"]])[t_idx]
    t1 = np.array([_ordinal(x) for x in inputs["end"]])[t_idx]
    slack = PERIOD_SLACK_YEARS + 2.0 * np.array(
        [s.start_approx or s.end_approx for s in sites], dtype=float)[s_idx]
    log_period = log_period_factor(s0, s1, t0, t1, slack)
    log_l += log_period

    # what happened: violations against the facility type (a weak signal)
    tbits = np.array([_bits(v) for v in inputs["violations"]], dtype=np.int64)[t_idx]
    unlikely = {ft: _bits(",".join(v)) for ft, v in UNLIKELY.items()}
    sbits = np.array([unlikely.get(s.facility_type, 0) for s in sites], dtype=np.int64)[s_idx]
    mismatch = (tbits & sbits) != 0
    log_l += math.log(TYPE_MISMATCH) * mismatch

    # posterior over the sites in reach and "not on the list", per testimony
    top = log_none.copy()
    np.maximum.at(top, t_idx, log_l)
    total = np.exp(log_none - top)
    np.add.at(total, t_idx, np.exp(log_l - top[t_idx]))
    prob = np.exp(log_l - top[t_idx]) / total[t_idx]
    p_none = np.exp(log_none - top) / total

    order = np.lexsort((-prob, t_idx))
    t_sorted = t_idx[order]
    first = np.r_[0, np.nonzero(np.diff(t_sorted))[0] + 1] if len(order) else np.array([], int)
    out: list[dict] = []
    for n, f in enumerate(first):
        b = order[f]
        r = order[f + 1] if f + 1 < len(order) and t_sorted[f + 1] == t_sorted[f] else None
        if prob[b] >= threshold:
            chosen = [(b, r, "candidate")]
        elif (r is not None and prob[r] >= REVIEW_SECOND
              and prob[b] + prob[r] >= REVIEW_PROBABILITY):
            chosen = [(b, r, "ambiguous"), (r, b, "ambiguous")]
        else:
            continue
        for k, other, status in chosen:
            site = sites[s_idx[k]]
            ti = t_idx[k]
            overlap = None
            if not (np.isnan(s0[k]) and np.isnan(s1[k])):
                overlap = _overlap_years(site.start, site.end, inputs["start"][ti],
                                         inputs["end"][ti])
            out.append({
                "testimony_id": int(inputs["id"][ti]), "site_id": site.id,
                "score": round(float(prob[k]), 4), "status": status,
                "evidence": {
                    "distance_m": round(float(d[k])), "testimony_radius_m": float(trad[ti]),
                    "site_radius_m": site.radius_m, "site_extent_m": round(site.extent_m),
                    "combined_m": round(float(math.sqrt(scale2[k]))),
                    "distance_scales": round(float(d[k] / math.sqrt(scale2[k])), 2),
                    "name_score": round(float(math.exp(log_text[k])), 3),
                    "name_match": (factors[text_id[ti]].notes[s_idx[k]]
                                   if text_id[ti] >= 0 else None),
                    "words": factors[text_id[ti]].words if text_id[ti] >= 0 else None,
                    "overlap_years": overlap,
                    "period_factor": round(float(math.exp(log_period[k])), 3),
                    "type_mismatch": bool(mismatch[k]),
                    "unlisted_probability": round(float(p_none[ti]), 4),
                    "runner_up": ({"site_id": sites[s_idx[other]].id,
                                   "name": sites[s_idx[other]].name,
                                   "score": round(float(prob[other]), 4)}
                                  if other is not None else None),
                },
            })
        if progress and n and n % 20_000 == 0:
            progress(n)
    return out


def run_linking(store: StoreLike, gaz: Gazetteer | None, threshold: float = THRESHOLD,
                progress: Callable[[int], None] | None = None,
                ids: list[int] | None = None) -> dict:
    """Propose links for all located testimonies (with `ids`, for those only: an import's
    new testimonies; a testimony's links depend on it and the sites alone); decisions by
    people are kept."""
    from .policy import SYSTEM
    from .store.links import LinkStore

    ls = LinkStore(store)
    sites = site_refs(store.sites(SYSTEM))
    inputs = ls.testimony_inputs(ids)
    proposals = propose(inputs, sites, NameEvidence(gaz, sites), threshold, progress)
    stored = ls.replace_candidates(proposals, ENGINE) if ids is None else \
        ls.replace_candidates_for(ids, proposals, ENGINE)
    return {"testimonies": int(len(inputs["id"])), "sites": len(sites),
            "proposed": sum(1 for p in proposals if p["status"] == "candidate"),
            "ambiguous": len({p["testimony_id"] for p in proposals if p["status"] == "ambiguous"}),
            "stored": stored}


def link_testimonies(store: StoreLike, gaz: Gazetteer | None, ids: list[int],
                     threshold: float = THRESHOLD) -> int:
    """Propose links for these testimonies only (one a researcher just located)."""
    from .policy import SYSTEM
    from .store.links import LinkStore

    ls = LinkStore(store)
    sites = site_refs(store.sites(SYSTEM))
    proposals = propose(ls.testimony_inputs(ids), sites, NameEvidence(gaz, sites), threshold)
    return ls.replace_candidates_for(list(ids), proposals, ENGINE)


def evaluate(store: StoreLike) -> dict:
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
