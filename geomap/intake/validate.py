"""Row validation: each problem gets a code, the field and a sentence a person can act on.

A row either becomes a Testimony or is quarantined with all its problems (not only the first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Geod
from shapely import prepared
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from ..coords import check_range, parse_geometry, parse_pair
from ..dates import parse_day
from ..errors import InvalidInput
from ..messages import N_, Message, message_of
from ..model import (
    Precision,
    Relationship,
    Testimony,
    Tier,
    Violation,
    precision_for_radius,
)
from ..periods import parse_period
from .mapping import DEFAULT_COLUMNS, radius_unit_m, resolve_columns  # noqa: F401 (re-export)
from .values import Vocabulary, parse_radius, vocabulary

DEFAULT_RADIUS_M = 1_000.0  # a reported point with no stated uncertainty: "locality"
MAX_RADIUS_M = 100_000.0


@dataclass
class Problem:
    """`message` is English text; given a Message, the template and its parameters are kept
    too, so a page can show the problem in the reader's language (geomap.messages)."""

    code: str
    field: str | None
    message: str | Message
    msg: Message | None = None

    def __post_init__(self):
        if isinstance(self.message, Message):
            self.msg, self.message = self.message, str(self.message)

    def as_dict(self) -> dict:
        d = {"code": self.code, "field": self.field, "message": self.message}
        if self.msg is not None:
            d |= self.msg.as_dict()
        return d


@dataclass
class Checked:
    row_number: int
    raw: dict
    testimony: Testimony | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# accepted values: codes, the labels the interface shows in every language, documented
# synonyms (geomap.intake.values, docs/periods.md)
_VIOLATIONS = vocabulary("violations")
_RELATIONSHIPS = vocabulary("relationship")
_PRECISIONS = vocabulary("precision")
_TIERS = vocabulary("tier")


# Spreadsheet columns repeat a few values (periods, radii, vocabulary labels) thousands of
# times: the pure parsers below are memoised per distinct text (bounded caches), which keeps
# every result and message identical while an import of 100,000 rows parses each value once.
_MEMO = 4096
_SEPARATORS = re.compile(r"[;,|、\n]")


@lru_cache(maxsize=_MEMO)
def _period_of(text: str) -> tuple[object, Message | str | None]:
    """(Period or None, the problem's message or None) of a period text."""
    try:
        return parse_period(text), None
    except InvalidInput as e:
        return None, message_of(e)


@lru_cache(maxsize=_MEMO)
def _radius_of(text: str, unit_m: float) -> tuple[float | None, Message | str | None]:
    try:
        return parse_radius(text, unit_m), None
    except InvalidInput as e:
        return None, message_of(e)


_MATCHES: dict[tuple[str, str], str | None] = {}


def _match(vocab: Vocabulary, value: str) -> str | None:
    key = (vocab.field, value)
    try:
        return _MATCHES[key]
    except KeyError:
        if len(_MATCHES) >= _MEMO:
            _MATCHES.clear()
        v = _MATCHES[key] = vocab.match(value)
        return v


def _split_values(text: str, vocab: Vocabulary) -> list[str]:
    """The values in a multi-value cell ("torture; forced labour", "강제노동, 고문·가혹행위").
    "/" separates values too, unless it is part of a label ("Torture / ill-treatment")."""
    out = []
    for part in _SEPARATORS.split(text):
        if not part.strip():
            continue
        if _match(vocab, part) is None and "/" in part:
            out += [p for p in part.split("/") if p.strip()]
        else:
            out.append(part)
    return out
@lru_cache(maxsize=_MEMO)
def _violations_of(text: str) -> tuple[tuple[Violation, ...], tuple[str, ...]]:
    """(the distinct violations, sorted; the values not in the vocabulary, in the cell's
    order) of a violations cell."""
    codes, unknown = set(), []
    for v in _split_values(text, _VIOLATIONS):
        if v.strip():
            code = _match(_VIOLATIONS, v)
            if code is None:
                unknown.append(v.strip())
            else:
                codes.add(Violation(code))
    return tuple(sorted(codes)), tuple(unknown)


_DECIMAL = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _angle(text: str) -> tuple[float, str | None]:
    """parse_angle, with plain decimal degrees ("39.71234", most files) read directly: the
    same value and no hemisphere."""
    if _DECIMAL.fullmatch(text):
        return float(text), None
    from ..coords import parse_angle

    return parse_angle(text)


def _in_range(lat: float, lon: float) -> bool:
    """check_range passes (NaN does not)."""
    return -90 <= lat <= 90 and -180 <= lon <= 180


_GEOD = Geod(ellps="WGS84")


class Validator:
    def __init__(self, country: BaseGeometry | None, columns: dict[str, str],
                 border_km: float = 50.0, default_tier: Tier = Tier.INTERNAL):
        # no country boundary loaded (a new instance): the near-the-country check is skipped
        # and the import says so, rather than failing on every row with coordinates
        self.country = country if country is not None and not country.is_empty else None
        # "near the country": within border_km of it (a cheap buffer in degrees, then metres)
        self.near = self.country.buffer(border_km / 80.0) if self.country is not None else None
        self.near_p = prepared.prep(self.near) if self.near is not None else None
        if self.near is not None:
            shapely.prepare(self.near)  # for contains_xy over a batch's points
        self.border_km = border_km
        self.columns = columns
        self._mapped = [(f, c) for f, c in columns.items() if c]
        self.default_tier = default_tier
        # a bare number in a column headed "Radius (km)" is in kilometres
        self.radius_unit_m = radius_unit_m(columns.get("radius_m"))

    def _get(self, raw: dict, fld: str) -> str:
        col = self.columns.get(fld)
        return (raw.get(col) or "").strip() if col else ""

    def _values(self, raw: dict) -> dict[str, str]:
        """Every mapped field's text in the row, stripped ("" when empty)."""
        get = raw.get
        return {f: (get(c) or "").strip() for f, c in self._mapped}

    def _vocab(self, value: str, vocab: Vocabulary, fld: str, probs: list[Problem]):
        v = _match(vocab, value)
        if v is None:  # the nearest accepted value, in the value's language
            probs.append(Problem("unknown_value", fld, vocab.unknown_message(value.strip())))
        return v

    def _distance_km(self, p: Point) -> float:
        from shapely.ops import nearest_points

        q = nearest_points(self.country, p)[0]
        return _GEOD.inv(p.x, p.y, q.x, q.y)[2] / 1000

    def check(self, row_number: int, raw: dict) -> Checked:
        return self.check_many([(row_number, raw)])[0]

    def check_many(self, rows: Sequence[tuple[int, dict]]) -> list[Checked]:
        """Each row's verdict, as `check` gives it: every row checked, all its problems in
        the same order. The near-the-country test and the points are computed for all the
        rows' coordinates at once (a batch of an import), not one shapely call per row."""
        first = []
        for n, raw in rows:
            c = Checked(n, raw)
            vals = self._values(raw)
            code = vals.get("witness_code", "")
            if not code:
                c.problems.append(Problem("missing", "witness_code", Message(N_(
                    "no witness code (a pseudonymous code is required; never a name)"))))
            first.append((c, vals, self._coords(vals, c.problems)))
        # (lon, lat) rounded as stored, for the coordinates in range
        at = [i for i, (_, _, xy) in enumerate(first) if xy is not None and _in_range(*xy)]
        xs = np.array([round(first[i][2][1], 7) for i in at], dtype=float)
        ys = np.array([round(first[i][2][0], 7) for i in at], dtype=float)
        points = dict(zip(at, shapely.points(xs, ys).tolist(), strict=True))
        inside = dict(zip(at, (shapely.contains_xy(self.near, xs, ys).tolist()
                               if self.near is not None else [True] * len(at)), strict=True))
        out = []
        for i, (c, vals, xy) in enumerate(first):
            geom = self._place(xy, c.problems, inside.get(i), points.get(i)) \
                if xy is not None else None
            self._rest(c, vals, geom)
            out.append(c)
        return out

    def _rest(self, c: Checked, vals: dict[str, str], geom: BaseGeometry | None) -> None:
        """The row's other fields, after its witness code and location."""
        probs = c.problems
        get = vals.get
        place = get("place_text") or None
        if geom is None and not place and not any(p.field in ("lat", "lon", "coordinates",
                                                              "geometry") for p in probs):
            probs.append(Problem("missing", "location", Message(N_(
                "no location: neither coordinates nor a place name"))))
        radius = None
        if rtext := get("radius_m"):
            radius, problem = _radius_of(rtext, self.radius_unit_m)
            if problem is not None:
                probs.append(Problem("unparseable", "radius_m", problem))
            elif not 0 <= radius <= MAX_RADIUS_M:
                probs.append(Problem("out_of_range", "radius_m", Message(N_(
                    "radius %(radius)s m is outside 0..%(max)s m"),
                    radius=f"{radius:g}", max=f"{MAX_RADIUS_M:g}")))
        precision = None
        if ptext := get("precision"):
            precision = self._vocab(ptext, _PRECISIONS, "precision", probs)
        period = None
        if ptext := get("period"):
            period, problem = _period_of(ptext)
            if problem is not None:
                probs.append(Problem("unparseable", "period", problem))
        codes, unknown = _violations_of(get("violations", ""))
        for v in unknown:  # the nearest accepted value, in the value's language
            probs.append(Problem("unknown_value", "violations",
                                 _VIOLATIONS.unknown_message(v)))
        relationship = None
        if rtext := get("relationship"):
            rel = self._vocab(rtext, _RELATIONSHIPS, "relationship", probs)
            relationship = Relationship(rel) if rel else None
        interview = None
        if itext := get("interview_date"):
            try:
                interview = parse_day(itext)
            except InvalidInput as e:
                probs.append(Problem("unparseable", "interview_date", Message(
                    N_("interview %(problem)s"), problem=message_of(e))))
            else:
                if interview > date.today():
                    probs.append(Problem("out_of_range", "interview_date", Message(
                        N_("interview date %(text)r is in the future"), text=itext)))
                    interview = None
        tier = self.default_tier
        if ttext := get("tier"):
            t = self._vocab(ttext, _TIERS, "tier", probs)
            tier = Tier(t) if t else tier
        if probs:
            return
        if geom is not None and radius is None:
            radius = DEFAULT_RADIUS_M
            c.notes.append(f"no radius given: {DEFAULT_RADIUS_M:g} m assumed")
        narrative = get("narrative", "")
        c.testimony = Testimony(
            witness_code=get("witness_code", ""), place_text=place, geometry=geom,
            radius_m=radius,
            precision=Precision(precision) if precision else (
                precision_for_radius(radius) if radius is not None else None),
            period=period, violations=list(codes),
            relationship=relationship, interview_date=interview, narrative=narrative or None,
            tier=tier, synthetic="synthetic" in narrative.lower()[:40],
        )

    def _coords(self, vals: dict[str, str], probs: list[Problem]
                ) -> tuple[float, float] | None:
        """(lat, lon) the row's location columns give; None (with the problem, if any) when
        they give none or cannot be read."""
        get = vals.get
        gtext, ctext = get("geometry"), get("coordinates")
        lat_t, lon_t = get("lat"), get("lon")
        try:
            if gtext:
                g = parse_geometry(gtext)
                if g.geom_type != "Point":
                    g = g.representative_point()
                return g.y, g.x
            if ctext:
                return parse_pair(ctext)
            if lat_t or lon_t:
                if not (lat_t and lon_t):
                    missing = "lon" if lat_t else "lat"
                    probs.append(Problem("missing", missing, Message(
                        N_("%(missing)s is empty while %(given)s is given"), missing=missing,
                        given="lat" if missing == "lon" else "lon")))
                    return None
                lat, hl = _angle(lat_t)
                lon, hn = _angle(lon_t)
                if hl in ("E", "W") and hn in ("N", "S"):
                    lat, lon = lon, lat
                return lat, lon
            return None
        except InvalidInput as e:
            fld = "geometry" if gtext else "coordinates" if ctext else "lat"
            probs.append(Problem("unparseable", fld, message_of(e)))
            return None

    def _place(self, xy: tuple[float, float], probs: list[Problem], inside: bool | None,
               point: Point | None) -> BaseGeometry | None:
        """The stored point of coordinates in range and near the country (`inside` and `point`
        computed for the batch; None when out of range); None with the problem otherwise."""
        lat, lon = xy
        try:
            check_range(lat, lon)
        except InvalidInput as e:
            swapped_ok = -90 <= lon <= 90 and -180 <= lat <= 180
            if swapped_ok and self.near_p is not None and self.near_p.contains(Point(lat, lon)):
                probs.append(self._swap_problem(lat, lon))
            else:
                probs.append(Problem("out_of_range", e.field, message_of(e)))
            return None
        if not inside:
            if -90 <= lon <= 90 and self.near_p.contains(Point(lat, lon)):
                probs.append(self._swap_problem(lat, lon))
            else:
                probs.append(Problem("far_outside", "location", Message(N_(
                    "(%(lat)s, %(lon)s) is %(km)s km from North Korea (more than %(max)s km)"),
                    lat=f"{lat:.5f}", lon=f"{lon:.5f}", km=f"{self._distance_km(point):,.0f}",
                    max=f"{self.border_km:g}")))
            return None
        return point

    @staticmethod
    def _swap_problem(lat: float, lon: float) -> Problem:
        return Problem("likely_swap", "location", Message(N_(
            "latitude and longitude look swapped: (%(lat)s, %(lon)s) is not in or near North "
            "Korea, (%(lon)s, %(lat)s) is. Fix: put %(lon)s as latitude and %(lat)s as "
            "longitude, then re-import this row"), lat=f"{lat:.5f}", lon=f"{lon:.5f}"))
