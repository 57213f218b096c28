"""One search box for staff: sites by any spelling, gazetteer places, and witness codes.

Sites and places come from the gazetteer (geomap.gazetteer: Hangul, McCune-Reischauer with
or without breves, Revised Romanization, aliases, typos), built over the sites the viewer may
see, plus any visible site one of whose spellings contains the query ("Kaechon" finds the
Kaech'ŏn camps, which the gazetteer gives to the town for a bare town name). Witness codes
(exact or prefix) only for roles allowed to read them: for anyone else the answer is the same
whether a code exists or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .gazetteer import KIND_PLACE, KIND_PROVINCE, KIND_SITE, Gazetteer
from .policy import Principal
from .romanize import skeleton
from .store.testimony_records import witness_matches

if TYPE_CHECKING:
    from .store.protocol import StoreLike

MAX_QUERY = 100  # characters; longer is no name or code anyone types
SITE_MIN_SCORE = 70.0
PLACE_MIN_SCORE = 75.0


def search(store: StoreLike, viewer: Principal, q: str | None, limit: int = 20) -> dict:
    """{"query", "problem" ("empty" | "too_long" | None), "sites", "places", "testimonies"}:
    plain data, each list best first."""
    q = " ".join((q or "").split())
    out: dict = {"query": q, "problem": None, "sites": [], "places": [], "testimonies": []}
    if not q:
        out["problem"] = "empty"
        return out
    if len(q) > MAX_QUERY:
        out["problem"] = "too_long"
        out["query"] = q[:MAX_QUERY]
        return out
    visible = store.sites(viewer)
    by_key = {s.key: s for s in visible}
    found: dict[str, tuple[float, str]] = {}  # site key -> (score, spelling that matched)
    places = []
    # the province in both scripts: the Korean page shows 평안남도, not P'yŏngan-namdo
    province_ko = {u.name_en: u.name_ko for u in store.boundary_units(1)}
    for c in Gazetteer.from_store(store, viewer).lookup(q, limit=limit):
        if c.kind == KIND_SITE and c.score >= SITE_MIN_SCORE and c.ref in by_key:
            # the spelling that matched, when it is one of the site's other names
            alias = c.matched if c.matched in by_key[c.ref].aliases else ""
            found[c.ref] = max(found.get(c.ref, (0.0, "")), (c.score, alias))
        elif c.kind in (KIND_PLACE, KIND_PROVINCE) and c.score >= PLACE_MIN_SCORE \
                and c.lon is not None:
            places.append({"name": c.name, "name_ko": c.name_ko, "kind": c.kind,
                           "lon": c.lon, "lat": c.lat, "admin1": c.admin1,
                           "admin1_ko": province_ko.get(c.admin1),
                           "score": round(c.score, 1), "matched": c.matched})
    key = skeleton(q)
    if len(key) >= 3:
        for s in visible:
            for sp in (s.name, s.name_ko, *s.aliases):
                if sp and key in skeleton(sp) and s.key not in found:
                    found[s.key] = (90.0, sp if sp in s.aliases else "")
    for k, (score, matched) in sorted(found.items(), key=lambda kv: (-kv[1][0],
                                                                      by_key[kv[0]].name)):
        s = by_key[k]
        g = s.geometry.centroid if s.geometry is not None else None
        out["sites"].append({"key": s.key, "name": s.name, "name_ko": s.name_ko,
                             "facility_type": str(s.facility_type), "matched": matched,
                             "score": round(score, 1), "lon": g.x if g is not None else None,
                             "lat": g.y if g is not None else None})
    out["sites"] = out["sites"][:limit]
    out["places"] = places[:limit]
    out["testimonies"] = witness_matches(store, viewer, q, limit)
    return out
