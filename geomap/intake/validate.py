"""Row validation: each problem gets a code, the field and a sentence a person can act on.

A row either becomes a Testimony or is quarantined with all its problems (not only the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pyproj import Geod
from rapidfuzz import process
from shapely import prepared
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from ..coords import check_range, parse_geometry, parse_pair
from ..errors import InvalidInput
from ..model import (
    PRECISION_LABELS,
    RELATIONSHIP_LABELS,
    VIOLATION_LABELS,
    Precision,
    Relationship,
    Testimony,
    Tier,
    Violation,
    precision_for_radius,
)
from ..periods import parse_period

# field -> column names tried when the caller maps nothing (case-insensitive)
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "witness_code": ("witness_code", "witness", "witness_id", "code", "interviewee", "증인",
                     "증인코드"),
    "place_text": ("place_text", "place", "location", "place_name", "name", "장소", "지명"),
    "lat": ("lat", "latitude", "y", "위도"),
    "lon": ("lon", "lng", "long", "longitude", "x", "경도"),
    "coordinates": ("coordinates", "coords", "coordinate", "position", "좌표"),
    "geometry": ("geometry", "wkt", "geom", "geojson"),
    "radius_m": ("radius_m", "radius", "uncertainty_m", "uncertainty", "반경"),
    "precision": ("precision", "location_precision", "정밀도"),
    "period": ("period", "when", "date", "dates", "observed", "기간", "시기"),
    "violations": ("violations", "violation", "violation_types", "인권침해"),
    "relationship": ("relationship", "witness_relationship", "relation", "관계"),
    "interview_date": ("interview_date", "interviewed", "interview", "면담일"),
    "narrative": ("narrative", "description", "testimony", "account", "진술"),
    "tier": ("tier", "visibility", "공개범위"),
}
DEFAULT_RADIUS_M = 1_000.0  # a reported point with no stated uncertainty: "locality"
MAX_RADIUS_M = 100_000.0


@dataclass
class Problem:
    code: str
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass
class Checked:
    row_number: int
    raw: dict
    testimony: Testimony | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve_columns(header: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """field -> the column that holds it. An explicit mapping names a column that must exist."""
    lower = {h.lower(): h for h in header}
    out: dict[str, str] = {}
    for fld, col in (mapping or {}).items():
        if fld not in DEFAULT_COLUMNS:
            raise InvalidInput(f"mapping: unknown field {fld!r}; fields: "
                               f"{', '.join(DEFAULT_COLUMNS)}")
        if col.lower() not in lower:
            raise InvalidInput(f"mapping: {fld} -> column {col!r}, but the file has no such "
                               f"column (columns: {', '.join(header)})", field=fld)
        out[fld] = lower[col.lower()]
    for fld, names in DEFAULT_COLUMNS.items():
        if fld not in out:
            for n in names:
                if n.lower() in lower and lower[n.lower()] not in out.values():
                    out[fld] = lower[n.lower()]
                    break
    return out


def _vocab_index(enum, labels) -> dict[str, str]:
    idx = {}
    for e in enum:
        for name in (e.value, e.value.replace("_", " "), labels[e]):
            idx[_norm(name)] = e.value
    return idx


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-/]+", " ", s.strip().lower())


_VIOLATIONS = _vocab_index(Violation, VIOLATION_LABELS)
_RELATIONSHIPS = _vocab_index(Relationship, RELATIONSHIP_LABELS)
_PRECISIONS = _vocab_index(Precision, PRECISION_LABELS)
_TIERS = {t.value: t.value for t in Tier}
_GEOD = Geod(ellps="WGS84")


class Validator:
    def __init__(self, country: BaseGeometry | None, columns: dict[str, str],
                 border_km: float = 50.0, default_tier: Tier = Tier.INTERNAL):
        # no country boundary loaded (a new instance): the near-the-country check is skipped
        # and the import says so, rather than failing on every row with coordinates
        self.country = country if country is not None and not country.is_empty else None
        # "near the country": within border_km of it (a cheap buffer in degrees, then metres)
        self.near_p = (prepared.prep(self.country.buffer(border_km / 80.0))
                       if self.country is not None else None)
        self.border_km = border_km
        self.columns = columns
        self.default_tier = default_tier

    def _get(self, raw: dict, fld: str) -> str:
        col = self.columns.get(fld)
        return (raw.get(col) or "").strip() if col else ""

    def _vocab(self, value: str, index: dict[str, str], fld: str, probs: list[Problem]):
        v = index.get(_norm(value))
        if v is None:
            choices = sorted(set(index.values()))
            near = process.extractOne(_norm(value), list(index))
            hint = f"; did you mean {index[near[0]]!r}?" if near and near[1] >= 60 else ""
            probs.append(Problem("unknown_value", fld, f"{fld}: {value!r} is not one of "
                                 f"{', '.join(choices)}{hint}"))
        return v

    def _distance_km(self, p: Point) -> float:
        from shapely.ops import nearest_points

        q = nearest_points(self.country, p)[0]
        return _GEOD.inv(p.x, p.y, q.x, q.y)[2] / 1000

    def check(self, row_number: int, raw: dict) -> Checked:
        c = Checked(row_number, raw)
        probs = c.problems
        code = self._get(raw, "witness_code")
        if not code:
            probs.append(Problem("missing", "witness_code", "no witness code (a pseudonymous "
                                 "code is required; never a name)"))
        place = self._get(raw, "place_text") or None
        geom = self._location(raw, probs)
        if geom is None and not place and not any(p.field in ("lat", "lon", "coordinates",
                                                              "geometry") for p in probs):
            probs.append(Problem("missing", "location", "no location: neither coordinates "
                                 "nor a place name"))
        radius = None
        rtext = self._get(raw, "radius_m")
        if rtext:
            try:
                radius = float(rtext.replace(",", "").removesuffix("m").strip())
                if not 0 <= radius <= MAX_RADIUS_M:
                    probs.append(Problem("out_of_range", "radius_m", f"radius {radius:g} m is "
                                         f"outside 0..{MAX_RADIUS_M:g} m"))
            except ValueError:
                probs.append(Problem("unparseable", "radius_m",
                                     f"radius {rtext!r} is not a number of metres"))
        precision = None
        if ptext := self._get(raw, "precision"):
            precision = self._vocab(ptext, _PRECISIONS, "precision", probs)
        period = None
        if ptext := self._get(raw, "period"):
            try:
                period = parse_period(ptext)
            except InvalidInput as e:
                probs.append(Problem("unparseable", "period", str(e)))
        violations = []
        for v in re.split(r"[;,|/]", self._get(raw, "violations")):
            if v.strip():
                code_v = self._vocab(v, _VIOLATIONS, "violations", probs)
                if code_v:
                    violations.append(Violation(code_v))
        relationship = None
        if rtext := self._get(raw, "relationship"):
            rel = self._vocab(rtext, _RELATIONSHIPS, "relationship", probs)
            relationship = Relationship(rel) if rel else None
        interview = None
        if itext := self._get(raw, "interview_date"):
            try:
                interview = date.fromisoformat(itext[:10])
            except ValueError:
                probs.append(Problem("unparseable", "interview_date",
                                     f"interview date {itext!r} is not YYYY-MM-DD"))
        tier = self.default_tier
        if ttext := self._get(raw, "tier"):
            t = self._vocab(ttext, _TIERS, "tier", probs)
            tier = Tier(t) if t else tier
        if probs:
            return c
        if geom is not None and radius is None:
            radius = DEFAULT_RADIUS_M
            c.notes.append(f"no radius given: {DEFAULT_RADIUS_M:g} m assumed")
        c.testimony = Testimony(
            witness_code=code, place_text=place, geometry=geom, radius_m=radius,
            precision=Precision(precision) if precision else (
                precision_for_radius(radius) if radius is not None else None),
            period=period, violations=sorted(set(violations)), relationship=relationship,
            interview_date=interview, narrative=self._get(raw, "narrative") or None, tier=tier,
            synthetic="synthetic" in (self._get(raw, "narrative").lower()[:40]),
        )
        return c

    def _location(self, raw: dict, probs: list[Problem]) -> BaseGeometry | None:
        lat = lon = None
        gtext, ctext = self._get(raw, "geometry"), self._get(raw, "coordinates")
        lat_t, lon_t = self._get(raw, "lat"), self._get(raw, "lon")
        try:
            if gtext:
                g = parse_geometry(gtext)
                if g.geom_type != "Point":
                    g = g.representative_point()
                lon, lat = g.x, g.y
            elif ctext:
                lat, lon = parse_pair(ctext)
            elif lat_t or lon_t:
                if not (lat_t and lon_t):
                    missing = "lon" if lat_t else "lat"
                    probs.append(Problem("missing", missing, f"{missing} is empty while "
                                         f"{'lat' if missing == 'lon' else 'lon'} is given"))
                    return None
                from ..coords import parse_angle

                lat, hl = parse_angle(lat_t)
                lon, hn = parse_angle(lon_t)
                if hl in ("E", "W") and hn in ("N", "S"):
                    lat, lon = lon, lat
            else:
                return None
        except InvalidInput as e:
            fld = "geometry" if gtext else "coordinates" if ctext else "lat"
            probs.append(Problem("unparseable", fld, str(e)))
            return None
        try:
            check_range(lat, lon)
        except InvalidInput as e:
            swapped_ok = -90 <= lon <= 90 and -180 <= lat <= 180
            if swapped_ok and self.near_p is not None and self.near_p.contains(Point(lat, lon)):
                probs.append(self._swap_problem(lat, lon))
            else:
                probs.append(Problem("out_of_range", e.field, str(e)))
            return None
        p = Point(round(lon, 7), round(lat, 7))
        if self.near_p is not None and not self.near_p.contains(p):
            if -90 <= lon <= 90 and self.near_p.contains(Point(lat, lon)):
                probs.append(self._swap_problem(lat, lon))
            else:
                probs.append(Problem("far_outside", "location", f"({lat:.5f}, {lon:.5f}) is "
                                     f"{self._distance_km(p):,.0f} km from North Korea (more "
                                     f"than {self.border_km:g} km)"))
            return None
        return p

    @staticmethod
    def _swap_problem(lat: float, lon: float) -> Problem:
        return Problem("likely_swap", "location",
                       f"latitude and longitude look swapped: ({lat:.5f}, {lon:.5f}) is not in "
                       f"or near North Korea, ({lon:.5f}, {lat:.5f}) is. Fix: put {lon:.5f} "
                       f"as latitude and {lat:.5f} as longitude, then re-import this row")
