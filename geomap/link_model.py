"""The probability that a testimony speaks of each listed site, from what the witness says.

For one testimony, every listed site within reach is a hypothesis, and so is "a facility not
on the list" (the list is far from complete: most county MSS and MPS jails are on no public
list). Each hypothesis gets a likelihood, the product of independent factors:

- **where**: a 2-D Student-t density (nu = 3) of the distance between the testimony's point
  and the site, with a scale that combines the witness's stated radius, the site's location
  precision and extent and the rounding of the testimony's coordinates. Its tail is much
  heavier than a Gaussian's, because witnesses understate their uncertainty (often by 1-3x):
  a witness at three times their stated radius is unlikely, not impossible. A site with a
  known extent (a 378 km2 camp) spreads by half its radius: a point 8 km from the published
  point of Yodŏk is still inside the camp, and the camp's density is lower everywhere than a
  building's, so a small facility near a camp's point keeps the testimonies made at it.
  "Not on the list" has a flat density (`BACKGROUND_PER_M2`).
- **what was said**: the words of the place text, in any script (geomap.gazetteer parses
  them): the facility kind (관리소 / kwalliso, 교화소, 집결소, 구류장 ...), the authority
  (보위부 / bowibu / MSS against 보안서 / 안전부 / anjeonbu / MPS / police), a camp number,
  the site's own names and its town. Words a site contradicts make it unlikely; words that
  agree with it lift it over a twin that they contradict; an unlisted facility can be of any
  kind, so kind and authority words never count against "not on the list".
- **when**: years outside the site's operating years (with slack for approximate years)
  make it less likely, smoothly: testimonies and lists both get years wrong.
- **what happened**: violations that do not fit the facility type (a weak signal).

The posterior over the hypotheses is the link's score: it reads as a probability. The best
site becomes a candidate when it is probable enough; when two sites share most of the
probability and neither is probable enough on its own (twins the evidence cannot separate),
both go to a person. Because the likelihoods scale with the radii, twins 60 m apart are
separated by words when the radii cover both, and by distance when the radii are small: no
fixed score gap decides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer

from .gazetteer import KIND_PLACE, KIND_SITE, Gazetteer, parse_facility_ref, site_authority
from .model import PRECISION_MAX_RADIUS_M, FacilityType, Precision, Site
from .romanize import skeleton

METRIC = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True)

NU = 3.0                      # Student-t degrees of freedom of the distance model
# density of "a facility not on the list" per m2: about one per 5,000 km2 near where
# testimonies fall (NK has ~200 counties, each with MSS and MPS holding cells)
BACKGROUND_PER_M2 = 2e-10
# a site's precision class bounds how far its point may be from the facility; the point's own
# error is taken as half that bound
SITE_SIGMA_FRACTION = 0.5
SITE_POINT_IN_EXTENT_M = 500.0
ADMIN_UNIT_RADIUS_M = 25_000.0  # a site known only by its county
LINK_PROBABILITY = 0.7          # a candidate link needs this posterior
REVIEW_PROBABILITY = 0.7        # two sites holding this much together go to a person ...
REVIEW_SECOND = 0.15            # ... when the second holds at least this
# words
KIND_MISMATCH = 0.03           # "보위부 구류장" for a kwalliso
KIND_NEAR_MISS = 0.25          # "prison" for a kwalliso, "holding centre" for a jail
AUTHORITY_MISMATCH = 0.03      # "bowibu" for an MPS centre
# "bowibu" for a site whose authority no source gives (camps and prisons, which witnesses
# name by kind and number rather than by ministry)
AUTHORITY_UNKNOWN = 0.2
NUMBER_MISMATCH = 0.01         # "Camp 14" for Camp 18
NUMBER_ABSENT = 0.1            # "Camp 14" for a site with no number (or not on the list)
NAME_MATCH = 12.0              # the site's own name (best spelling score 100)
TOWN_MATCH = 3.0               # the town the site lies in or is named after
TOWN_NEAR_SITE_M = 35_000.0  # facilities named after a town lie up to ~30 km from it
TYPE_MISMATCH = 0.8            # violations that do not fit the facility type
PERIOD_SLACK_YEARS = 1.0       # testimony years are vague; approximate site years get 2 more
PERIOD_SCALE_YEARS = 2.0
PERIOD_FLOOR = 0.05

# violations that do not fit a facility type
UNLIKELY = {
    FacilityType.KURYUJANG: {"forced_labour", "starvation", "public_execution"},
    FacilityType.JIPKYULSO: {"public_execution", "enforced_disappearance"},
}
# kinds witnesses confuse with each other (a kwalliso called a prison; a holding centre
# called a detention centre)
_NEAR_KINDS = {frozenset({"kwalliso", "kyohwaso"}), frozenset({"jipkyulso", "kuryujang"}),
               frozenset({"kyohwaso", "rodong_danryondae"})}


@dataclass(frozen=True)
class SiteRef:
    id: int
    key: str
    name: str
    x: float
    y: float
    lon: float
    lat: float
    radius_m: float            # the precision class's bound (kept for display)
    facility_type: FacilityType
    start: object              # date or None
    end: object
    sigma_m: float = 0.0       # the site point's own error
    extent_m: float = 0.0      # radius of the facility's known area (0: unknown)
    authority: str | None = None
    numbers: frozenset = field(default_factory=frozenset)
    start_approx: bool = False
    end_approx: bool = False


def _site_numbers(s: Site) -> frozenset:
    out = set()
    for sp in (s.name, s.name_ko, *(s.aliases or [])):
        if sp and (ref := parse_facility_ref(sp)) and ref.number is not None:
            out.add(ref.number)
    m = re.search(r"(?:No\.?|Camp)\s*(\d+)", s.name)
    if m:
        out.add(int(m[1]))
    return frozenset(out)


def site_refs(sites: list[Site]) -> list[SiteRef]:
    from datetime import date

    out = []
    for s in sites:
        if s.geometry is None or s.id is None:
            continue
        x, y = METRIC.transform(s.geometry.x, s.geometry.y)
        p = Precision(s.precision)
        radius = PRECISION_MAX_RADIUS_M.get(p, ADMIN_UNIT_RADIUS_M)
        extent = math.sqrt(s.extent_km2 / math.pi) * 1000 if s.extent_km2 else 0.0
        start = date(s.opened, 1, 1) if s.opened else (s.period.earliest if s.period else None)
        end = date(s.closed, 12, 31) if s.closed else (s.period.latest if s.period else None)
        out.append(SiteRef(
            s.id, s.key, s.name, x, y, s.geometry.x, s.geometry.y, radius,
            FacilityType(s.facility_type), start, end,
            # with a known extent the point lies inside the facility, which spreads by half
            # its radius; the precision class then describes the extent, not the point
            sigma_m=(math.hypot(SITE_POINT_IN_EXTENT_M, extent / 2) if extent
                     else radius * SITE_SIGMA_FRACTION), extent_m=extent,
            authority=site_authority(s), numbers=_site_numbers(s),
            start_approx=bool(s.opened_approx), end_approx=bool(s.closed_approx)))
    return out


# -- where ---------------------------------------------------------------------------------------
def rounding_sigma_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The error that rounding put into coordinates (2 decimals: about 1.1 km steps; whole
    arc minutes: 1.85 km), as a standard deviation in metres (step / sqrt(12))."""
    out = np.zeros(len(lon))
    for step in (1 / 60, 0.01, 0.001):
        on_grid = (np.abs(lon / step - np.round(lon / step)) < 1e-6) & (
            np.abs(lat / step - np.round(lat / step)) < 1e-6)
        out = np.where((out == 0) & on_grid, step * 111_000 / math.sqrt(12), out)
    return out


def log_distance_density(d: np.ndarray, scale2: np.ndarray) -> np.ndarray:
    """log of a 2-D Student-t density (nu = NU, squared scale `scale2`) of distance `d`."""
    return -np.log(2 * math.pi * scale2) - (NU / 2 + 1) * np.log1p(d ** 2 / (NU * scale2))


# -- what was said -------------------------------------------------------------------------------
@dataclass
class TextFactors:
    log_site: np.ndarray     # per site
    log_none: float
    notes: list              # per site: what matched (English, for the stored evidence)
    words: str | None        # kind / authority / number the text gives, for display


class TextEvidence:
    """What a place text says about each site (cached per distinct text)."""

    def __init__(self, gaz: Gazetteer | None, sites: list[SiteRef]):
        self.gaz = gaz
        self.sites = sites
        self.xy = np.array([[s.x, s.y] for s in sites]) if sites else np.zeros((0, 2))
        self.pos = {s.key: i for i, s in enumerate(sites)}
        self.cache: dict[str, TextFactors] = {}

    def for_text(self, text: str | None) -> TextFactors | None:
        if not text or not self.sites:
            return None
        if text in self.cache:
            return self.cache[text]
        n = len(self.sites)
        log_f = np.zeros(n)
        log_none = 0.0
        notes: list[str | None] = [None] * n
        fac = parse_facility_ref(text)
        words = []
        # the whole text is one of a site's own names ("Kaechon concentration camp" is an
        # alias of Kyohwaso No. 1): the words inside that name cannot count against it
        own = set()
        if self.gaz is not None:
            own = {self.pos[e.target[2]] for e in self.gaz.by_key.get(skeleton(text), ())
                   if e.target[1] == KIND_SITE and not e.town and e.target[2] in self.pos}
        if fac is not None:
            if fac.kind:
                words.append(fac.kind)
                for i, s in enumerate(self.sites):
                    k = str(s.facility_type)
                    if k != fac.kind:
                        log_f[i] += math.log(KIND_NEAR_MISS if frozenset({k, fac.kind})
                                             in _NEAR_KINDS else KIND_MISMATCH)
            if fac.authority:
                words.append(fac.authority)
                for i, s in enumerate(self.sites):
                    if s.authority is None:
                        log_f[i] += math.log(AUTHORITY_UNKNOWN)
                    elif s.authority != fac.authority:
                        log_f[i] += math.log(AUTHORITY_MISMATCH)
                log_none += math.log(AUTHORITY_UNKNOWN)
            if fac.number is not None:
                words.append(f"No. {fac.number}")
                for i, s in enumerate(self.sites):
                    if fac.number not in s.numbers:
                        log_f[i] += math.log(NUMBER_MISMATCH if s.numbers else NUMBER_ABSENT)
                log_none += math.log(NUMBER_ABSENT)
        if self.gaz is not None:
            name_boost = np.zeros(n)
            town_boost = np.zeros(n)
            # a relative description's place and pieces are names too ("18 km north-east of
            # 회령": the town; "처마봉 통제구역, 14 km south-east of 개천": the facility's name)
            rel = _relative(text)
            pieces = list(dict.fromkeys(
                [text, *((rel.place, *rel.parts) if rel is not None else ())]))
            found = [c for p in pieces for c in self.gaz.lookup(p, limit=8)]
            for c in found:
                if c.score < 85:
                    continue
                if c.kind == KIND_SITE and c.ref in self.pos:
                    i = self.pos[c.ref]
                    if self.gaz.via_town(c):  # "Sinuiju" inside "Kyohwaso No. 3, Sinŭiju"
                        b = math.log(1 + (TOWN_MATCH - 1) * c.score / 100)
                        if b > town_boost[i]:
                            town_boost[i] = b
                            notes[i] = notes[i] or f"town {c.matched} 0 km away"
                        continue
                    b = math.log(1 + (NAME_MATCH - 1) * (c.score / 100) ** 4)
                    if b > name_boost[i]:
                        name_boost[i] = b
                        notes[i] = f"site name {c.matched!r}"
                elif c.kind == KIND_PLACE and c.lon is not None:
                    x, y = METRIC.transform(c.lon, c.lat)
                    d = np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)
                    b = math.log(1 + (TOWN_MATCH - 1) * c.score / 100)
                    for i in np.nonzero(d <= TOWN_NEAR_SITE_M)[0]:
                        if b > town_boost[i]:
                            town_boost[i] = b
                            if notes[i] is None or notes[i].startswith("town"):
                                notes[i] = f"town {c.name} {d[i] / 1000:.0f} km away"
            # a site named by its own name is also in its town: the larger of the two counts
            log_f += np.maximum(name_boost, town_boost)
        for i in own:
            log_f[i] = max(log_f[i], math.log(NAME_MATCH))
            notes[i] = notes[i] or f"site name {text!r}"
        out = TextFactors(log_f, log_none, notes, ", ".join(words) or None)
        self.cache[text] = out
        return out


def _relative(text: str):
    from .relative import parse_relative

    try:
        return parse_relative(text)
    except Exception:  # noqa: BLE001 - a description we cannot read is a name
        return None


# -- when ----------------------------------------------------------------------------------------
def log_period_factor(s0: np.ndarray, s1: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                      slack_years: np.ndarray) -> np.ndarray:
    """Ordinal days; NaN = unknown (no effect). Years outside the site's operating years
    beyond the slack lower the likelihood smoothly, never below PERIOD_FLOOR."""
    with np.errstate(invalid="ignore"):
        gap_days = np.fmax(np.nan_to_num(t0 - s1, nan=-1e9), np.nan_to_num(s0 - t1, nan=-1e9))
    gap = np.maximum(gap_days / 365.25 - slack_years, 0.0)
    return np.maximum(-gap / PERIOD_SCALE_YEARS, math.log(PERIOD_FLOOR))
