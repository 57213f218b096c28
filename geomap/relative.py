"""Relative place descriptions: "about 10 km to the north of Hoeryŏng", "회령에서 북쪽으로
10킬로미터쯤", "10km N of X", "north of X, about 10 km", "near X", "X 근처", "outskirts of X",
"X 외곽".

A small grammar rather than one pattern per example: the text is scanned for a distance (number,
optional range, unit, qualifiers before or after), a direction (only where the words can be
nothing else: "north of", "to the north of", "10 km north", "북쪽", "북동쪽으로", "동북"), and a
"near" or "outskirts" word; what remains, minus connectors and particles, is the place, wherever
it stood. Anything that does not parse returns None and the caller looks the text up as a name.

Units: km, kilometres, m, metres, miles, 킬로(미터), 키로, 미터, and the Korean 리 (里, "ri"): in modern
Korean one 리 is about 0.393 km (10 리 ≈ 4 km, as in "십리"), so "10리" counts as 3.93 km. A
리 distance needs a direction or "from" next to it, since "2리" is also how villages are numbered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .romanize import ascii_fold, is_hangul

RI_M = 392.7
MILE_M = 1609.344
MAX_DISTANCE_M = 200_000.0  # further than this from a named town is no description of a spot
NEAR_DEFAULT_M = 5_000.0  # "north of X" with no distance: assumed, with the same as spread

_UNITS = [  # (pattern, metres), longest first within a family
    (r"kilomet(?:re|er)s?|kms?|킬로\s*미터|킬로|키로|㎞", 1000.0),
    (r"miles?|mi", MILE_M),
    (r"met(?:re|er)s?|미터|m", 1.0),
    (r"리|里|ri", RI_M),
]
_UNIT = "|".join(f"(?:{p})" for p, _ in _UNITS)
_APPROX_BEFORE = r"(?:about|approx(?:imately|\.)?|around|some|roughly|circa|ca\.|c\.|nearly|almost|약|대략|한)"
_APPROX_AFTER = r"(?:쯤|정도|가량|남짓|내외|안팎|여|or so)"
_NUM = r"\d+(?:[.,]\d+)?"
_DIST = re.compile(
    rf"(?P<q1>{_APPROX_BEFORE}\s*)?(?<![a-z0-9.])(?P<a>{_NUM})(?:\s*(?:-|–|~|to|에서)\s*(?P<b>{_NUM}))?\s*"
    rf"(?P<q2>여\s*)?(?P<u>{_UNIT})(?![a-z])\s*(?P<q3>{_APPROX_AFTER})?", re.IGNORECASE)

_EN_DIRS = {
    "north": 0, "north-north-east": 22.5, "northnortheast": 22.5, "north-east": 45,
    "northeast": 45, "north east": 45, "east-north-east": 67.5, "east": 90,
    "east-south-east": 112.5, "south-east": 135, "southeast": 135, "south east": 135,
    "south-south-east": 157.5, "south": 180, "south-south-west": 202.5, "south-west": 225,
    "southwest": 225, "south west": 225, "west-south-west": 247.5, "west": 270,
    "west-north-west": 292.5, "north-west": 315, "northwest": 315, "north west": 315,
    "north-north-west": 337.5,
    "n": 0, "nne": 22.5, "ne": 45, "ene": 67.5, "e": 90, "ese": 112.5, "se": 135, "sse": 157.5,
    "s": 180, "ssw": 202.5, "sw": 225, "wsw": 247.5, "w": 270, "wnw": 292.5, "nw": 315,
    "nnw": 337.5,
}
_EN_DIR = "|".join(sorted((re.escape(k) for k in _EN_DIRS), key=len, reverse=True))
_KO_BASE = {"북": 0, "동": 90, "남": 180, "서": 270}
_KO_PAIRS = {"북동": 45, "동북": 45, "남동": 135, "동남": 135, "남서": 225, "서남": 225,
             "북서": 315, "서북": 315}
_KO_SUFFIX = r"(?:쪽|방향|방면|편)"
# a Korean direction: with 쪽/방향 anywhere ("회령북쪽", "북동쪽으로"); two syllables (북동, 동북)
# or one as a word of its own; never inside a name (함경북도, 강동, 남포)
_KO_DIR_SUFFIXED = re.compile(
    rf"(?P<k>[북남][동서]|[동서][북남]|[북남동서])(?P<s>{_KO_SUFFIX})(?:으로|로|에)?"
    r"(?=$|[^가-힣]|약|대략|한|쯤)")  # not 동편리 (a village)
_KO_DIR = re.compile(
    r"(?<![가-힣])(?P<k>[북남][동서]|[동서][북남]|[북남동서])(?P<s>)(?:으로|로|에)?(?=$|[\s\d,.])")
# English: "north of", "to the north of", "in the north-east of", "10 km north", "10km N"
_EN_OF = re.compile(rf"\b(?:(?:to|in)\s+the\s+)?(?P<d>{_EN_DIR})(?:ern)?\s+(?:side\s+)?of\b",
                    re.IGNORECASE)
_EN_AFTER_DIST = re.compile(rf"\s*(?:to\s+the\s+)?(?P<d>{_EN_DIR})\b(?:\s+of\b)?", re.IGNORECASE)

_NEAR_EN = re.compile(r"\b(?:near(?:by)?|close\s+to|next\s+to|not\s+far\s+from|in\s+the\s+"
                      r"vicinity\s+of|vicinity\s+of|around)\b", re.IGNORECASE)
_NEAR_KO = re.compile(r"(?:근처|부근|인근|주변|근방|가까운\s*곳|가까이)(?:에|의|에서)?")
_OUT_EN = re.compile(r"\b(?:(?:on\s+)?the\s+)?(?:outskirts|edge|periphery|suburbs?)\s+of\b|"
                     r"\b(?:just\s+)?outside(?:\s+of)?\b", re.IGNORECASE)
_OUT_KO = re.compile(r"(?:외곽|변두리|교외|근교)(?:\s*지역)?(?:에|의|에서)?")
_FROM = re.compile(r"\b(?:away\s+from|from|away)\b|에서|로부터|으로부터|떨어진\s*(?:곳|지점|데)?|"
                   r"떨어져", re.IGNORECASE)
_CONNECTORS = re.compile(r"\b(?:of|the|to|in|at|a|an|is|was|located|about|approx|some|roughly|"
                         r"around|and|or|by)\b|[,;:()]", re.IGNORECASE)
_KO_FILLERS = re.compile(r"(?<!\S)(?:있는|있던|위치한|마을|곳|지역|지점|일대|쪽)(?!\S)")
_KO_PARTICLES = re.compile(r"(?<=[가-힣])(?:에서|으로|의|에|로부터)(?=\s|$)")


@dataclass
class Relative:
    place: str
    bearing_deg: float | None     # None: a distance without direction, or near/outskirts
    distance_m: float | None
    mode: str = "offset"          # offset | ring (distance, no direction) | near | outskirts
    approximate: bool = False     # "about", "쯤", a range...
    spread_m: float = 0.0         # half the stated range ("10-15 km" -> 2500)
    sector_deg: float = 45.0      # width of the direction's compass sector (16-point: 22.5)
    parts: tuple[str, ...] = ()   # the place's pieces the description kept apart

    def uncertainty_m(self) -> float:
        """How far the true spot may lie from the offset point, from the description alone.

        A witness's distance is an estimate (walked, driven, guessed): 20 % of it, 30 % when
        they said "about", plus half of any stated range. A compass word names a sector, not a
        bearing (45° for eight points), so the spot may lie d·tan(sector/2) to either side. The
        two are independent, hence their root sum of squares."""
        if self.distance_m is None:
            return 0.0
        d = self.distance_m
        along = d * (0.3 if self.approximate else 0.2) + self.spread_m
        if self.bearing_deg is None:
            return along
        across = d * math.tan(math.radians(self.sector_deg / 2))
        return math.hypot(along, across)


def _number(s: str) -> float:
    return float(s.replace(",", "."))


def parse_relative(text: str) -> Relative | None:
    """The description's place, direction, distance and mode; None when the text is a plain
    name (or nothing recognisable is left as a place)."""
    if not text:
        return None
    # breves and apostrophes go (Hoeryŏng -> hoeryong): the gazetteer folds them again anyway
    # (Hangul stays whole: NFKD would split its syllables into letters)
    s = " " + (text.lower() if is_hangul(text) else ascii_fold(text))
    bearing = distance = None
    approx, spread, sector = False, 0.0, 45.0
    mode = None
    spans: list[tuple[int, int]] = []

    dist = None
    for m in _DIST.finditer(s):
        dist = m
        break
    if dist is not None:
        a = _number(dist["a"])
        b = _number(dist["b"]) if dist["b"] else None
        unit = next(v for p, v in _UNITS if re.fullmatch(p, dist["u"], re.IGNORECASE))
        if b is not None and b > a:
            distance, spread = (a + b) / 2 * unit, (b - a) / 2 * unit
        else:
            distance = a * unit
        if not (0 < distance <= MAX_DISTANCE_M):
            return None  # "0 km", "99999 km": not a place near the named one
        approx = bool(dist["q1"] or dist["q2"] or dist["q3"] or dist["b"])
        spans.append(dist.span())
        after = _EN_AFTER_DIST.match(s, dist.end())
        if after:
            bearing = _EN_DIRS[after["d"].lower()]
            spans.append(after.span())
    if bearing is None and (m := _EN_OF.search(s)):
        bearing = _EN_DIRS[m["d"].lower()]
        spans.append(m.span())
    if bearing is None:
        for m in [*_KO_DIR_SUFFIXED.finditer(s), *_KO_DIR.finditer(s)]:
            k = m["k"]
            # a lone syllable needs 쪽/방향 or to stand next to the distance ("회령 북 10km")
            if len(k) == 1 and not m["s"] and not (dist and abs(m.end() - dist.start()) <= 2):
                continue
            bearing = _KO_PAIRS.get(k, _KO_BASE.get(k))
            spans.append(m.span())
            break
    if bearing is not None and bearing % 45:
        sector = 22.5
    if distance is not None and dist is not None and dist["u"].lower() in ("리", "里", "ri") and bearing is None \
            and not _FROM.search(s):
        return None  # "승호 2리" is a village, not a distance
    for pat, name in ((_OUT_EN, "outskirts"), (_OUT_KO, "outskirts"), (_NEAR_EN, "near"),
                      (_NEAR_KO, "near")):
        if m := pat.search(s):
            if name == "near" and m.group(0).strip().lower() == "around" and dist is not None \
                    and m.start() <= dist.start() <= m.end() + 1:
                continue  # "around 10 km": a qualifier, not "near"
            mode = mode or name
            spans.append(m.span())
    if bearing is not None:
        mode = "offset"
        if distance is None:
            distance, approx = NEAR_DEFAULT_M, True
            spread = NEAR_DEFAULT_M
    elif distance is not None:
        if not _FROM.search(s):
            return None  # a number and a unit alone say nothing about where
        mode = mode or "ring"
    if mode is None:
        return None
    rest = list(s)
    for a, b in spans:
        for i in range(a, b):
            rest[i] = "|"

    def clean(text: str) -> str:
        text = _FROM.sub(" ", text)
        text = _KO_PARTICLES.sub(" ", text)
        text = _KO_FILLERS.sub(" ", text)
        text = _CONNECTORS.sub(" ", text)
        return re.sub(r"\s+", " ", text).strip(" .-")

    joined = "".join(rest)
    place = clean(joined.replace("|", " "))
    if not place:
        return None
    # the pieces the description left apart ("처마봉 통제구역, 14 km south-east of 개천":
    # the facility and the town it is measured from)
    parts = tuple(p for p in (clean(x) for x in re.split(r"[|,;()]+", joined)) if p)
    return Relative(place, bearing, distance, mode, approx, spread, sector, parts)
