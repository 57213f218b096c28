"""Deterministic synthetic testimonies for demos, tests and benchmarks.

Every record is marked synthetic (flag, witness code prefix and narrative). The generator
mimics the real problem: points clustered around real sites with uncertainty radii from 10 m to
10 km, place names in several romanisations and in Hangul, vague periods, several violation
types and witness relationships, several testimonies per witness, some with a place name but no
coordinates and some drawn from no known site. The site each record was drawn from is returned
as ground truth (stored apart, never shown as a link).
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pyproj import Geod
from shapely import prepared
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from .gazetteer import Place
from .model import (
    FacilityType,
    Relationship,
    Site,
    Testimony,
    Tier,
    Violation,
    precision_for_radius,
)
from .periods import parse_period
from .sites import camp_number

WITNESS_PREFIX = "SYN-W"
SYNTHETIC_NOTE = "[SYNTHETIC] Generated test record; not a real account."
_GEOD = Geod(ellps="WGS84")

_RELATIONSHIPS = [(Relationship.DETAINED, 0.4), (Relationship.SAW_DIRECTLY, 0.25),
                  (Relationship.HEARD_FROM_VICTIM, 0.2), (Relationship.HEARSAY, 0.15)]
_VIOLATIONS = {
    FacilityType.KWALLISO: [Violation.ARBITRARY_DETENTION, Violation.FORCED_LABOUR,
                            Violation.STARVATION, Violation.TORTURE, Violation.PUBLIC_EXECUTION,
                            Violation.DEATH_IN_CUSTODY, Violation.ENFORCED_DISAPPEARANCE],
    FacilityType.KYOHWASO: [Violation.FORCED_LABOUR, Violation.STARVATION, Violation.TORTURE,
                            Violation.DEATH_IN_CUSTODY, Violation.SEXUAL_VIOLENCE],
    FacilityType.JIPKYULSO: [Violation.ARBITRARY_DETENTION, Violation.TORTURE,
                             Violation.FORCED_ABORTION, Violation.SEXUAL_VIOLENCE,
                             Violation.FORCED_LABOUR],
    FacilityType.KURYUJANG: [Violation.ARBITRARY_DETENTION, Violation.TORTURE,
                             Violation.SEXUAL_VIOLENCE, Violation.FORCED_ABORTION],
}
_ANY_VIOLATIONS = list(Violation)
_SITE_WEIGHT = {FacilityType.KWALLISO: 3.0, FacilityType.KYOHWASO: 2.0}


@dataclass(frozen=True)
class TruthRow:
    site_id: int | None
    kind: str  # "site" (drawn near a site), "name_only" (no coordinates), "no_site"


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).replace("'", "").replace("’", "")


def _nearest_place(p: BaseGeometry, places: Sequence[Place]) -> Place:
    return min(places, key=lambda pl: (pl.lon - p.x) ** 2 + ((pl.lat - p.y) * 1.3) ** 2)


def place_variants(site: Site, places: Sequence[Place],
                   others: Sequence[Site] = ()) -> list[str]:
    """How witnesses name a site: official names, romanisations, Hangul, camp numbers, towns.

    A town's name alone (or with a generic kind word) is used only where it points at this
    site and no other: when another listed site lies within 25 km of the town (the MSS and
    MPS centres of one town, Camps 14 and 18 by Kaech'ŏn), a witness who said only the town
    would leave the record undecidable, and the generator's records are meant to hold enough
    for a careful reader to decide (undecidable records belong to review, not to a score)."""
    out = [site.name, *site.aliases]
    n = camp_number(site)
    if n is not None:
        if site.facility_type == FacilityType.KWALLISO:
            out += [f"Camp {n}", f"Kwalliso No. {n}", f"{n}호 관리소", f"제{n}호 관리소"]
        elif site.facility_type == FacilityType.KYOHWASO:
            out += [f"Kyohwaso No. {n}", f"제{n}호 교화소", f"{n}호 교화소"]
    if site.geometry is not None:
        town = _nearest_place(site.geometry, places)
        crowded = any(o.id != site.id and o.geometry is not None and _GEOD.inv(
            town.lon, town.lat, o.geometry.x, o.geometry.y)[2] < 25_000 for o in others)
        kind = {FacilityType.KWALLISO: "camp", FacilityType.KYOHWASO: "prison",
                FacilityType.JIPKYULSO: "holding centre"}.get(site.facility_type, "detention centre")
        same_kind_near = any(o.id != site.id and o.geometry is not None
                             and o.facility_type == site.facility_type and _GEOD.inv(
                                 town.lon, town.lat, o.geometry.x, o.geometry.y)[2] < 25_000
                             for o in others)
        if not crowded:
            out += [town.name, _ascii(town.name), f"near {_ascii(town.name)}"]
            out += [f"{h} 근처" for h in town.hangul[:1]] + list(town.hangul[:2])
        if not same_kind_near:
            out.append(f"{_ascii(town.name)} {kind}")
    # drop source notes such as "(MR)" and de-duplicate, keeping order
    cleaned = [re.sub(r"\s*\((MR|RR)\)$", "", v).strip() for v in out]
    return list(dict.fromkeys(v for v in cleaned if v))


def _site_window(site: Site) -> tuple[int, int]:
    if site.opened or site.closed:  # the structured list's operating years
        start = site.opened or 1975
        return start, max(start + 1, site.closed or 2020)
    years = [int(y) for y in re.findall(r"\b(19[5-9]\d|20[0-2]\d)\b", site.status_note or "")]
    start = min(years) if years else 1975
    closed = re.search(r"closed", site.status_note or "", re.IGNORECASE)
    end = max(years) if (closed and years) else 2020
    return start, max(start + 1, end)


def _period_text(rng: random.Random, start: int, end: int) -> str:
    y = rng.randint(start, end)
    k = rng.randint(1, 4)
    forms = [
        f"{y}", f"{y}-{min(y + k, 2024)}", f"spring {y}", f"c. {y}", f"before {y + 1}",
        f"after {y - 1}", f"{y}-{(y + k) % 100:02d}", f"{rng.choice(['May', 'October', 'Jan'])} {y}",
        f"{y // 10 * 10}s", f"{y}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"{y}년 봄", f"{y}년", f"{y // 10 * 10}년대", f"winter {y}", f"{y}년 {rng.randint(1, 12)}월",
    ]
    return rng.choice(forms)


def _offset(rng: random.Random, p: BaseGeometry, radius: float) -> Point:
    # 93% inside the stated radius (uniform over the disc), the rest misremembered: 1-2x radius
    d = radius * (math.sqrt(rng.random()) if rng.random() < 0.93 else rng.uniform(1.0, 2.0))
    lon, lat, _ = _GEOD.fwd(p.x, p.y, rng.uniform(0, 360), d)
    return Point(round(lon, 6), round(lat, 6))


def _radius(rng: random.Random) -> float:
    return round(10 ** rng.uniform(1, 4), 0)  # 10 m .. 10 km, log-uniform


def generate(
    n: int,
    sites: Sequence[Site],
    places: Sequence[Place],
    country: BaseGeometry,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Testimony], list[TruthRow]]:
    """`n` synthetic testimonies (same inputs and seed, same output) and their ground truth."""
    rng = random.Random(seed)
    located = [s for s in sites if s.geometry is not None and s.id is not None]
    if not located:
        raise ValueError("synthetic testimonies need at least one site with coordinates")
    weights = [_SITE_WEIGHT.get(s.facility_type, 1.0) for s in located]
    variants = {s.id: place_variants(s, places, located) for s in located}
    country_p = prepared.prep(country)
    minx, miny, maxx, maxy = country.bounds
    rel_values = [r for r, _ in _RELATIONSHIPS]
    rel_weights = [w for _, w in _RELATIONSHIPS]

    out: list[Testimony] = []
    truth: list[TruthRow] = []
    w = 0
    while len(out) < n:
        w += 1
        code = f"{WITNESS_PREFIX}{w:05d}"
        k = rng.choices([1, 2, 3, 4], [0.5, 0.25, 0.15, 0.1])[0]
        home = rng.choices(located, weights)[0]  # a witness's accounts cluster on few sites
        for _ in range(min(k, n - len(out))):
            site = home if rng.random() < 0.6 else rng.choices(located, weights)[0]
            kind = rng.choices(["site", "name_only", "no_site"], [0.85, 0.08, 0.07])[0]
            rel = rng.choices(rel_values, rel_weights)[0]
            vpool = _VIOLATIONS.get(site.facility_type, _ANY_VIOLATIONS)
            violations = sorted(set(rng.sample(vpool, rng.randint(1, min(3, len(vpool))))))
            start, end = _site_window(site)
            period = parse_period(_period_text(rng, start, end))
            if kind == "no_site":
                while True:
                    p = Point(round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6))
                    if country_p.contains(p):
                        break
                town = _nearest_place(p, places)
                place = rng.choice([f"near {_ascii(town.name)}", town.name, *town.hangul[:1]])
                radius = _radius(rng)
                geom, site_id = p, None
            else:
                place = rng.choice(variants[site.id])
                site_id = site.id
                if kind == "site":
                    radius = _radius(rng)
                    geom = _offset(rng, site.geometry, radius)
                else:
                    radius, geom = None, None
            last = period.latest or date(2015, 1, 1)
            interview = min(date(2024, 12, 31), last + timedelta(days=rng.randint(200, 3000)))
            names = ", ".join(v.replace("_", " ") for v in violations)
            out.append(Testimony(
                witness_code=code, place_text=place, geometry=geom, radius_m=radius,
                precision=precision_for_radius(radius) if radius is not None else None,
                period=period, violations=violations, relationship=rel,
                interview_date=interview,
                narrative=f"{SYNTHETIC_NOTE} The witness describes {names} at {place} "
                          f"({period.text}).",
                tier=Tier.INTERNAL, synthetic=True,
            ))
            truth.append(TruthRow(site_id, kind))
            if progress and len(out) % 1000 == 0:
                progress(1000)
    return out, truth
