"""A site's dossier as plain data: its confirmed testimonies, the corroboration summary, the
province, a timeline of reported periods and the points for its map. The dossier page renders
it; a printable or exported dossier can use the same function."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from . import corroboration as corr
from .store.links import confirmed_for_site

if TYPE_CHECKING:
    from .model import Site
    from .policy import Principal
    from .store.protocol import StoreLike


def site_dossier(store: StoreLike, viewer: Principal, site: Site, rule: corr.GradeRule) -> dict:
    """Everything the dossier shows of `site` (already checked visible to `viewer`); the
    testimonies and their codes are filtered by the viewer's tiers and permissions."""
    rows = confirmed_for_site(store, site.id, viewer)
    evidence = corr.site_evidence(rows, rule, site.period.earliest if site.period else None,
                                  site.period.latest if site.period else None)
    units = {u.id: u for u in store.boundary_units(1)}
    unit = units.get(site.admin1.unit_id) if site.admin1 else None
    points = [{"lon": r["lon"], "lat": r["lat"], "radius_m": r["radius_m"], "code": r["code"]}
              for r in rows if r["lon"] is not None]
    from .annotations import site_features, site_geometry

    return {"rows": rows, "evidence": evidence, "unit": unit, "timeline": timeline(rows),
            "points": points,
            # what analysts saw on imagery, kept apart from the reported point (issue 13)
            "imagery_geometry": site_geometry(store, viewer, site.id),
            "observed": site_features(store, viewer, site.id)}


def timeline(rows: list[dict]) -> dict:
    """Bars for an SVG timeline (attributes, not inline styles: the CSP forbids those)."""
    spans = [(r["period_start"], r["period_end"], r["code"]) for r in rows
             if r["period_start"] or r["period_end"]]
    if not spans:
        return {"bars": [], "ticks": []}
    lo = min(s or e for s, e, _ in spans).year
    hi = max(e or s for s, e, _ in spans).year + 1
    lo, hi = lo - lo % 5, hi + (5 - hi % 5) % 5
    # 800 units wide (the SVG's viewBox): witness codes in the first 90, bars after them
    width, span_days = 680.0, (date(hi, 1, 1) - date(lo, 1, 1)).days or 1

    def x(d):
        return round(90 + width * (d - date(lo, 1, 1)).days / span_days, 1)

    bars = []
    for i, (s, e, code) in enumerate(spans):
        s, e = s or date(lo, 1, 1), e or date(hi, 1, 1)
        bars.append({"x": x(s), "w": max(2.0, x(e) - x(s)), "y": 10 + 16 * i, "code": code,
                     "open_start": spans[i][0] is None, "open_end": spans[i][1] is None})
    ticks = [{"x": x(date(y, 1, 1)), "label": y} for y in range(lo, hi + 1, 5)]
    return {"bars": bars, "ticks": ticks, "height": 30 + 16 * len(bars)}
