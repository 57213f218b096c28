"""A second, independent synthetic testimony generator ("field" model), for measuring linking.

Written from how real interviews go wrong, not from `geomap.synthetic` (the demo generator the
engine was tuned on), so that a score on one is not a score on the other's error model:

- witnesses understate their uncertainty: the true error is log-normal around 1-3x the radius
  they state, and stated radii are round numbers (50 m, 200 m, 1 km, 5 km ...);
- coordinates are rounded (2 or 3 decimals, or whole DMS minutes);
- place text has the spelling variety of interviews: McCune-Reischauer with and without breves
  and apostrophes, Revised Romanization, Hangul, hyphen/space variants, typos, and facility-kind
  and authority words in English, romanised Korean and Hangul (bowibu, 보안서, MPS, kyohwaso,
  집결소, "Camp 14", "14호" ...);
- relative phrases with no coordinates ("about 10 km north of Hoeryong", "회령에서 북쪽으로
  10킬로미터쯤"), bare town names, name-only testimonies;
- twin facilities (MSS/MPS centres of one town, Camps 14/18 and Ch'oma-bong);
- facilities missing from the site list (the right answer is: no link);
- periods partly outside a facility's operating years;
- several testimonies per witness, with different relationships.

Each record holds enough for a careful reader to decide (a witness from one of twin facilities
says which; bare town names come from towns without twins), so the targets can be reached by
an engine and a miss is the engine's. Lat/lon swaps are not generated: intake flags them
(geomap.intake.validate) before a row is stored.

Every record is synthetic and says so (witness codes `SYN-F…`, the narrative prefix). The
category and true site of each record are returned as ground truth, stored apart by the store's
synthetic-truth mechanism (never read by any API or page). Deterministic by seed.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .store.protocol import StoreLike

WITNESS_PREFIX = "SYN-F"
SYNTHETIC_NOTE = "[SYNTHETIC] Generated test record (field model); not a real account."
_GEOD = Geod(ellps="WGS84")

# category -> weight; every category is < 17 characters (the truth table's kind column)
CATEGORIES: dict[str, float] = {
    "exact": 0.16,             # honest radius, ordinary name
    "understated": 0.14,       # true error 1-3x the stated radius (log-normal)
    "rounding": 0.08,          # coordinates rounded to 2-3 decimals or DMS minutes
    "twin": 0.12,              # one of twin facilities, told apart only by words
    "kind_words": 0.10,        # town + facility-kind / authority words
    "bare_town": 0.07,         # only the town's name, point and radius
    "relative_phrase": 0.07,   # "about 10 km north of X", no coordinates
    "name_only": 0.10,         # a name variant, no coordinates
    "missing_facility": 0.09,  # a facility not in the list: no link is right
    "out_of_period": 0.07,     # period partly outside the facility's operating years
    "inside_extent": 0.06,     # anywhere inside a large camp, far from its published point
}
NO_SITE_CATEGORIES = {"missing_facility"}

_ROUND_RADII = [20, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000]

_KIND_WORDS = {
    FacilityType.KWALLISO: ["kwalliso", "kwan-li-so", "gwalliso", "관리소", "정치범수용소",
                            "political prison camp", "camp"],
    FacilityType.KYOHWASO: ["kyohwaso", "kyo-hwa-so", "gyohwaso", "교화소", "prison",
                            "re-education camp"],
    FacilityType.JIPKYULSO: ["jipkyulso", "chipkyŏlso", "chipkyolso", "jipgyeolso", "집결소",
                             "holding centre"],
    FacilityType.KURYUJANG: ["kuryujang", "guryujang", "구류장", "detention centre", "jail"],
}
_AUTHORITY_WORDS = {
    "MSS": ["bowibu", "powibu", "보위부", "MSS", "state security", "bowibu kuryujang"],
    "MPS": ["boanso", "boanseo", "anjeonbu", "보안서", "안전부", "MPS", "police", "anjeonbu jail"],
}
# words for facilities missing from the list: (word, facility type or None, authority); in a
# town with listed facilities only words no listed facility there could answer to are used
_MISSING_WORDS = [("rodong danryondae", None, None), ("노동단련대", None, None),
                  ("labour training camp", None, None), ("boanso", FacilityType.KURYUJANG, "MPS"),
                  ("보안서", FacilityType.KURYUJANG, "MPS"), ("jipkyulso", FacilityType.JIPKYULSO, None),
                  ("집결소", FacilityType.JIPKYULSO, None), ("kuryujang", FacilityType.KURYUJANG, None),
                  ("bowibu", FacilityType.KURYUJANG, "MSS"), ("보위부", FacilityType.KURYUJANG, "MSS")]
_BEARINGS = [("north", "북쪽", 0), ("north-east", "북동쪽", 45), ("east", "동쪽", 90),
             ("south-east", "남동쪽", 135), ("south", "남쪽", 180), ("south-west", "남서쪽", 225),
             ("west", "서쪽", 270), ("north-west", "북서쪽", 315)]
_RELATIONSHIPS = [Relationship.DETAINED, Relationship.SAW_DIRECTLY,
                  Relationship.HEARD_FROM_VICTIM, Relationship.HEARSAY]
_VIOLATIONS = [Violation.ARBITRARY_DETENTION, Violation.TORTURE, Violation.FORCED_LABOUR,
               Violation.STARVATION, Violation.SEXUAL_VIOLENCE, Violation.DEATH_IN_CUSTODY]


@dataclass(frozen=True)
class FieldTruth:
    site_id: int | None
    category: str


def _fold(s: str) -> str:
    """Latin letters only, no breves or apostrophes, lower case."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"[^a-z]", "", s.lower())


@dataclass
class _SiteInfo:
    site: Site
    town: Place | None
    authority: str | None
    number: int | None
    years: tuple[int, int] | None


def _authority(site: Site) -> str | None:
    a = getattr(site, "authority", None)
    if a:
        a = str(a).upper()
        return "MSS" if "MSS" in a or "BOWI" in a else "MPS" if ("MPS" in a or "ANJ" in a) else None
    text = " ".join([site.name, *site.aliases]).lower()
    if re.search(r"\bmss\b|bowibu|보위", text):
        return "MSS"
    if re.search(r"\bmps\b|anjeonbu|boans|police|보안|안전", text):
        return "MPS"
    return None


def _year(v) -> int | None:
    if v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, date):
        return v.year
    m = re.search(r"(19|20)\d\d", str(v))
    return int(m.group(0)) if m else None


def _years(site: Site) -> tuple[int, int] | None:
    """Operating years where the site holds them (opened/closed fields or its period)."""
    opened, closed = _year(getattr(site, "opened", None)), _year(getattr(site, "closed", None))
    if opened is None and site.period is not None:
        opened = _year(site.period.earliest)
        closed = closed or _year(site.period.latest)
    if opened is None and closed is None:
        return None
    if opened is None:  # known to have closed, opening unknown: the years before closing
        return closed - 15, closed
    return opened, closed or 2020


def _town(site: Site, places: Sequence[Place]) -> Place | None:
    """The town the site is named after (its name or aliases contain the town's name), else
    the nearest town within 40 km."""
    text = _fold(" ".join([site.name, *site.aliases]))
    p = site.geometry
    named = [pl for pl in places if len(_fold(pl.name)) >= 4 and _fold(pl.name) in text]
    if p is None:
        return max(named, key=lambda pl: pl.population) if named else None
    def dist(pl):
        return _GEOD.inv(p.x, p.y, pl.lon, pl.lat)[2]
    if named:
        best = min(named, key=dist)
        if dist(best) < 60_000:
            return best
    best = min(places, key=lambda pl: (pl.lon - p.x) ** 2 + ((pl.lat - p.y) * 1.3) ** 2)
    return best if dist(best) < 40_000 else None


def _number(site: Site) -> int | None:
    m = re.search(r"No\.\s*(\d+)|Camp\s+(\d+)", site.name)
    return int(m.group(1) or m.group(2)) if m else None


# -- spelling ----------------------------------------------------------------------------------
def _typo(rng: random.Random, s: str) -> str:
    letters = [i for i, c in enumerate(s) if c.isalpha() and c.isascii()]
    if len(letters) < 5:
        return s
    i = rng.choice(letters[1:-1])
    op = rng.randrange(3)
    if op == 0:
        return s[:i] + s[i + 1:]                      # dropped letter
    if op == 1:
        return s[:i] + s[i] + s[i:]                   # doubled letter
    return s[:i - 1] + s[i] + s[i - 1] + s[i + 1:]    # swapped neighbours


def town_spelling(rng: random.Random, town: Place) -> str:
    """One way an interview transcript writes a town: MR with/without breves and apostrophes,
    RR or another romanised alternate, Hangul, hyphenated or spaced, sometimes with a typo."""
    base = _fold(town.name)
    # Korean-style romanisations only (not other languages' transliterations: Chkhondzhin)
    latin = [a for a in town.alternates if a.isascii() and re.fullmatch(r"[A-Za-z' \-]+", a)
             and len(a) >= 4 and not re.search(r"(?i)-?(si|gun|up|ku|dong)$|dz|zh|kh|[vzxq]", a)
             and SequenceMatcher(None, _fold(a), base).ratio() >= 0.7][:6]
    options = [town.name, _fold(town.name).capitalize(),
               unicodedata.normalize("NFKD", town.name).encode("ascii", "ignore").decode()]
    options += latin
    if town.hangul:
        options += [town.hangul[0]] * 3
    s = rng.choice(options)
    if s.isascii() and len(s) >= 6 and rng.random() < 0.15:
        k = len(s) // 2
        s = s[:k] + rng.choice(["-", " "]) + s[k:].lower()
    if s.isascii() and rng.random() < 0.08:
        s = _typo(rng, s)
    if s.isascii() and rng.random() < 0.1:
        s = s.lower()
    return s


def _own_name(rng: random.Random, site: Site) -> str:
    names = [site.name, *site.aliases, *([site.name_ko] if site.name_ko else [])]
    s = re.sub(r"\s*\((MR|RR|NKDB)\)$", "", rng.choice(names)).strip()
    if s.isascii() and rng.random() < 0.3:
        s = s.replace("'", "").replace("-", rng.choice(["", " ", "-"]))
    return s


def _kind_phrase(rng: random.Random, info: _SiteInfo, town_s: str | None,
                 distinguishing: bool = False) -> str:
    """Town plus facility-kind / authority words, or a camp number. `distinguishing`: the
    words a witness from one of twin facilities uses that tell it apart (authority, number,
    the facility's own name)."""
    site = info.site
    ft = FacilityType(site.facility_type)
    words = list(_KIND_WORDS.get(ft, ["detention centre"]))
    # authority words name detention and holding centres (bowibu, boanso); camps and prisons
    # go by number and place even where one ministry runs them
    if info.authority and ft in (FacilityType.KURYUJANG, FacilityType.JIPKYULSO):
        words = _AUTHORITY_WORDS[info.authority] * (1 if distinguishing else 2) + (
            [] if distinguishing else words)
    elif distinguishing and info.number is None:
        return _own_name(rng, site)
    if info.number is not None and distinguishing:
        n = info.number
        if ft == FacilityType.KWALLISO:
            return rng.choice([f"Camp {n}", f"{n}호 관리소", f"No. {n} camp",
                               f"{town_s or ''} {n}호".strip()])
        return rng.choice([f"kyohwaso No. {n}", f"{n}호 교화소", f"prison No. {n}",
                           f"{town_s or ''} {n}호 교화소".strip()])
    w = rng.choice(words)
    if info.number is not None and ft == FacilityType.KWALLISO and rng.random() < 0.4:
        return rng.choice([f"Camp {info.number}", f"{info.number}호", f"제{info.number}호 관리소",
                           f"camp no. {info.number}", f"kwalliso {info.number}",
                           f"{town_s} {info.number}호 관리소" if town_s else f"{info.number}호 관리소"])
    if info.number is not None and ft == FacilityType.KYOHWASO and rng.random() < 0.3:
        return rng.choice([f"kyohwaso no. {info.number}", f"{info.number}호 교화소",
                           f"{town_s} kyohwaso {info.number}" if town_s else f"제{info.number}호 교화소"])
    if not town_s:
        return _own_name(rng, site)
    if rng.random() < 0.15:
        return f"the {w} in {town_s}"
    return f"{town_s} {w}"


def _name_variant(rng: random.Random, info: _SiteInfo, distinguishing: bool = False) -> str:
    """A name a witness would give: the list's names sometimes, mostly town plus kind words in
    their own spelling (with `distinguishing`, the words that tell twin facilities apart)."""
    town_s = town_spelling(rng, info.town) if info.town else None
    if rng.random() < 0.2:
        return _own_name(rng, info.site)
    return _kind_phrase(rng, info, town_s, distinguishing)


# -- location errors ---------------------------------------------------------------------------
def _stated_radius(rng: random.Random, lo: float = 20, hi: float = 5000) -> float:
    return float(rng.choice([r for r in _ROUND_RADII if lo <= r <= hi]))


def _move(p: BaseGeometry, bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = _GEOD.fwd(p.x, p.y, bearing, metres)
    return lon, lat


def _honest(rng, p, radius):
    return _move(p, rng.uniform(0, 360), radius * math.sqrt(rng.random()) * 0.9)


def _understated(rng, p, radius):
    # the witness's real error is log-normal with a median of 1.7x the stated radius (1-3x
    # typical, a heavy tail beyond)
    return _move(p, rng.uniform(0, 360), radius * rng.lognormvariate(math.log(1.7), 0.45))


def _round(rng: random.Random, lon: float, lat: float) -> tuple[float, float]:
    mode = rng.choice(["2dp", "3dp", "3dp", "dms_min"])
    if mode == "2dp":
        return round(lon, 2), round(lat, 2)
    if mode == "3dp":
        return round(lon, 3), round(lat, 3)
    return round(lon * 60) / 60, round(lat * 60) / 60


def _period(rng: random.Random, years: tuple[int, int] | None, outside: bool) -> str:
    lo, hi = years or (1985, 2015)
    hi = max(hi, lo + 1)
    if outside:
        # spans an edge of the operating years: starts before opening or ends after closing
        if years and rng.random() < 0.5:
            return f"{lo - rng.randint(1, 3)}-{lo + rng.randint(0, 2)}"
        end = hi + rng.randint(1, 3)
        return rng.choice([f"{hi - rng.randint(0, 2)}-{end}", f"{hi - 1}년부터 {end}년까지",
                           f"{end}"])
    y = rng.randint(lo, hi)
    forms = [f"{y}", f"{y}-{min(y + rng.randint(1, 3), hi)}" if y < hi else f"{y}", f"around {y}", f"{y}년",
             f"summer {y}", f"{y}년 겨울", f"{y // 10 * 10}s"]
    return rng.choice(forms)


def _parse(text: str, fallback_year: int):
    try:
        return parse_period(text)
    except Exception:  # a form the parser does not know: the witness's year alone
        return parse_period(str(fallback_year))


# -- generator ---------------------------------------------------------------------------------
def _twin_groups(infos: list[_SiteInfo], max_m: float = 10_000) -> dict[int, list[int]]:
    """site id -> ids of other located sites within `max_m` (MSS/MPS pairs, camps 14/18 and
    Ch'oma-bong)."""
    out: dict[int, list[int]] = {}
    for a in infos:
        for b in infos:
            if a is b:
                continue
            d = _GEOD.inv(a.site.geometry.x, a.site.geometry.y, b.site.geometry.x,
                          b.site.geometry.y)[2]
            if d <= max_m:
                out.setdefault(a.site.id, []).append(b.site.id)
    return out


def generate_field(
    n: int, sites: Sequence[Site], places: Sequence[Place], country: BaseGeometry, seed: int = 1,
) -> tuple[list[Testimony], list[FieldTruth]]:
    """`n` synthetic testimonies under the field error model, and their ground truth."""
    rng = random.Random(f"field-{seed}")
    infos = [_SiteInfo(s, _town(s, places), _authority(s), _number(s), _years(s))
             for s in sites if s.geometry is not None and s.id is not None]
    if not infos:
        raise ValueError("synthetic testimonies need at least one site with coordinates")
    by_id = {i.site.id: i for i in infos}
    twins = _twin_groups(infos)
    twin_ids = sorted(twins)
    named_towns = [i for i in infos if i.town is not None]
    # a bare town name is decidable only where the town has one listed facility: no other
    # site within 25 km of it (Ch'ŏngjin's camp and holding centre 11 km apart are not twins,
    # but "Chongjin" with a point between them names neither)
    lonely_sites = _twin_groups(infos, max_m=25_000)
    untwinned_towns = [i for i in named_towns if i.site.id not in lonely_sites] or named_towns
    country_p = prepared.prep(country)
    site_pts = [(i.site.geometry.x, i.site.geometry.y) for i in infos]
    lonely = [pl for pl in places if country_p.contains(Point(pl.lon, pl.lat)) and all(
        _GEOD.inv(pl.lon, pl.lat, x, y)[2] > 20_000 for x, y in site_pts)]
    cats, weights = list(CATEGORIES), list(CATEGORIES.values())
    large_camps = [i for i in infos if (i.site.extent_km2 or 0) >= 10] or infos

    out: list[Testimony] = []
    truth: list[FieldTruth] = []
    w = 0
    while len(out) < n:
        w += 1
        code = f"{WITNESS_PREFIX}{w:05d}"
        k = rng.choices([1, 2, 3, 5], [0.45, 0.3, 0.15, 0.1])[0]
        home = rng.choice(infos)
        rels = rng.sample(_RELATIONSHIPS, len(_RELATIONSHIPS))
        for j in range(min(k, n - len(out))):
            cat = rng.choices(cats, weights)[0]
            info = home if rng.random() < 0.5 else rng.choice(infos)
            if cat == "twin" and twin_ids:
                info = by_id[rng.choice(twin_ids)]
            if cat in ("bare_town", "relative_phrase") and (
                    info.town is None or (cat == "bare_town" and info.site.id in lonely_sites)):
                info = rng.choice(untwinned_towns if cat == "bare_town" else named_towns)
            site, p = info.site, info.site.geometry
            lon = lat = radius = None
            place: str | None
            site_id: int | None = site.id
            town_s = town_spelling(rng, info.town) if info.town else None
            # every record holds enough for a careful reader to decide (else no engine could
            # reach the targets): a witness from one of twin facilities always says which
            twin = site.id in twins
            if cat == "exact":
                radius = _stated_radius(rng)
                lon, lat = _honest(rng, p, radius)
                place = _name_variant(rng, info, twin) if twin or rng.random() < 0.7 else None
            elif cat == "inside_extent":
                # a camp of tens or hundreds of km2: the witness was in one of its villages or
                # mines, anywhere in it, and gives that spot with an ordinary radius
                if not info.site.extent_km2 or info.site.extent_km2 < 10:
                    info = rng.choice(large_camps)
                    site, p, site_id = info.site, info.site.geometry, info.site.id
                    twin = site.id in twins
                    town_s = town_spelling(rng, info.town) if info.town else None
                r_camp = math.sqrt(info.site.extent_km2 / math.pi) * 1000
                radius = _stated_radius(rng, 200, 3000)
                lon, lat = _move(p, rng.uniform(0, 360), r_camp * math.sqrt(rng.random()))
                place = _name_variant(rng, info, twin) if twin or rng.random() < 0.5 else None
            elif cat == "understated":
                radius = _stated_radius(rng)
                lon, lat = _understated(rng, p, radius)
                place = _name_variant(rng, info, twin) if twin or rng.random() < 0.6 else None
            elif cat == "rounding":
                radius = _stated_radius(rng, 20, 500)
                lon, lat = _round(rng, *_honest(rng, p, radius))
                place = _name_variant(rng, info, twin) if twin or rng.random() < 0.5 else None
            elif cat == "twin":
                # the twins are 60 m-10 km apart; the witness's circle covers both, and the
                # words (authority, kind, camp number) are what tells them apart
                radius = _stated_radius(rng, 100, 5000)
                lon, lat = (_honest if rng.random() < 0.6 else _understated)(rng, p, radius)
                place = _kind_phrase(rng, info, town_s, distinguishing=True)
            elif cat == "kind_words":
                radius = _stated_radius(rng, 200, 5000)
                lon, lat = _understated(rng, p, radius)
                place = _kind_phrase(rng, info, town_s, distinguishing=twin)
            elif cat == "bare_town":
                radius = _stated_radius(rng, 500, 5000)
                lon, lat = _understated(rng, p, radius)
                place = town_s
            elif cat == "relative_phrase":
                t = info.town
                fwd, _, dist = _GEOD.inv(t.lon, t.lat, p.x, p.y)
                name_en, name_ko, deg = min(_BEARINGS, key=lambda b: abs(
                    (b[2] - fwd % 360 + 180) % 360 - 180))
                km = max(1, round(dist / 1000 * rng.uniform(0.8, 1.2)))
                if rng.random() < 0.5:
                    place = rng.choice([f"about {km} km {name_en} of {town_s}",
                                        f"{km} km {name_en} of {town_s}",
                                        f"{km}km {name_en} of {town_s}"])
                else:
                    ko = t.hangul[0] if t.hangul else town_s
                    place = rng.choice([f"{ko}에서 {name_ko}으로 {km}킬로미터쯤",
                                        f"{ko} {name_ko} {km}km", f"{ko}에서 {name_ko}으로 약 {km}킬로"])
                if twin:
                    # a witness from one of twin facilities says which, here too
                    tag = (rng.choice(_AUTHORITY_WORDS[info.authority]) if info.authority
                           else rng.choice([f"Camp {info.number}", f"{info.number}호"])
                           if info.number is not None else _own_name(rng, site))
                    place = rng.choice([f"{tag}, {place}", f"{place} ({tag})"])
            elif cat == "name_only":
                place = _name_variant(rng, info, twin)
            elif cat == "missing_facility":
                site_id = None
                if lonely and rng.random() < 0.5:
                    t = rng.choice(lonely)   # a town with no listed facility
                    base = Point(t.lon, t.lat)
                    lon, lat = _move(base, rng.uniform(0, 360), rng.uniform(0, 3000))
                    tname = town_spelling(rng, t)
                    words = [w for w, _, _ in _MISSING_WORDS]
                else:
                    # an unlisted facility in a listed site's town, 3-8 km from it, of a kind
                    # (and authority) no listed facility near that town has
                    lon, lat = _move(p, rng.uniform(0, 360), rng.uniform(3000, 8000))
                    tname = town_s or ""
                    near = [i for i in infos if _GEOD.inv(p.x, p.y, i.site.geometry.x,
                                                          i.site.geometry.y)[2] < 25_000]
                    words = [w for w, ft, auth in _MISSING_WORDS if ft is None or not any(
                        i.site.facility_type == ft and (auth is None or i.authority in (None, auth))
                        for i in near)]
                radius = _stated_radius(rng, 50, 1000)
                place = f"{tname} {rng.choice(words)}".strip()
                if rng.random() < 0.15:
                    lon = lat = radius = None  # name only
            else:  # out_of_period
                radius = _stated_radius(rng, 50, 2000)
                lon, lat = _honest(rng, p, radius)
                place = _name_variant(rng, info, twin) if twin or rng.random() < 0.7 else None
            if lon is not None and cat not in ("rounding",):
                lon, lat = round(lon, rng.choice([4, 5, 6])), round(lat, rng.choice([4, 5, 6]))
            ptext = _period(rng, info.years, cat == "out_of_period")
            period = _parse(ptext, (info.years or (2000, 2000))[0])
            rel = rels[j % len(rels)]
            violations = sorted(set(rng.sample(_VIOLATIONS, rng.randint(1, 3))))
            last = period.latest or date(2012, 1, 1)
            interview = min(date(2024, 12, 31), last + timedelta(days=rng.randint(90, 4000)))
            out.append(Testimony(
                witness_code=code, place_text=place,
                geometry=Point(lon, lat) if lon is not None else None, radius_m=radius,
                precision=precision_for_radius(radius) if radius is not None else None,
                period=period, violations=violations, relationship=rel, interview_date=interview,
                narrative=f"{SYNTHETIC_NOTE} The witness speaks of {place or 'a place'} "
                          f"({period.text}).",
                tier=Tier.INTERNAL, synthetic=True,
            ))
            truth.append(FieldTruth(site_id, cat))
    return out, truth


def load_field_testimonies(store: StoreLike, n: int, seed: int = 1, batch: int = 5_000) -> int:
    """Generate `n` field-model testimonies, tag provinces, and store them with their truth."""
    import shapely

    from .boundaries import AdminTagger
    from .gazetteer import read_places
    from .policy import SYSTEM

    country = shapely.union_all([u.geometry for u in store.boundary_units(0)])
    items, truth = generate_field(n, store.sites(SYSTEM), read_places(), country, seed=seed)
    tagger = AdminTagger(store.boundary_units(1))
    inserted = 0
    for i in range(0, len(items), batch):
        chunk, tchunk = items[i:i + batch], truth[i:i + batch]
        for t, tag in zip(chunk, tagger.tag([t.geometry for t in chunk]), strict=True):
            t.admin1 = tag
        with store.write() as conn:
            r = store.add_testimonies(chunk, [(x.site_id, x.category) for x in tchunk], conn=conn)
            store.record_batch(conn, "synthetic", f"synthetic field seed={seed} n={n}", r)
        inserted += r.inserted
    return inserted
