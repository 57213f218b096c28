"""Coordinates as people write them: decimal degrees, degrees-minutes-seconds and
degrees-decimal-minutes, with N/S/E/W (before or after), °′″ or ASCII marks (d ' " : and
spaces), in either order when hemispheres say which is which; and WKT or GeoJSON geometry text.
"""

from __future__ import annotations

import json
import re

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .errors import InvalidInput
from .messages import N_, Message

_DEG = "°º˚d"
_MIN = "′'’m"
_SEC = "″\"”s"
_NUM = r"[-+]?\d+(?:[.,]\d+)?"
_PART = re.compile(
    rf"""^\s*(?P<h1>[NSEWnsew])?\s*
        (?P<d>{_NUM})\s*[{_DEG}:]?\s*
        (?:(?P<m>\d+(?:[.,]\d+)?)\s*[{_MIN}:]?\s*
           (?:(?P<s>\d+(?:[.,]\d+)?)\s*(?:[{_SEC}]|'')?\s*)?)?
        (?P<h2>[NSEWnsew])?\s*$""",
    re.VERBOSE,
)


def _f(s: str) -> float:
    return float(s.replace(",", "."))


def parse_angle(text: str) -> tuple[float, str | None]:
    """One angle -> (signed decimal degrees, hemisphere letter or None)."""
    m = _PART.match(text)
    if not m:
        raise InvalidInput(Message(N_("%(text)r is not a coordinate (decimal degrees, DMS or DDM)"),
                                   text=text))
    if m["h1"] and m["h2"]:
        raise InvalidInput(Message(N_("%(text)r names two hemispheres"), text=text))
    hemi = (m["h1"] or m["h2"] or "").upper() or None
    deg = _f(m["d"])
    minutes = _f(m["m"]) if m["m"] else 0.0
    seconds = _f(m["s"]) if m["s"] else 0.0
    if minutes >= 60 or seconds >= 60:
        raise InvalidInput(Message(N_("%(text)r: minutes and seconds must be below 60"), text=text))
    if (m["m"] or m["s"]) and deg != int(deg):
        raise InvalidInput(Message(N_("%(text)r: degrees with a fraction cannot also have minutes"),
                                   text=text))
    value = abs(deg) + minutes / 60 + seconds / 3600
    negative = deg < 0 or m["d"].startswith("-") or hemi in ("S", "W")
    if hemi and deg < 0:
        raise InvalidInput(Message(N_("%(text)r: a minus sign and a hemisphere letter"), text=text))
    return (-value if negative else value), hemi


def parse_pair(text: str) -> tuple[float, float]:
    """'39°34′16″N 126°03′20″E', '39.5711, 126.0554', '126.05E 39.57N' -> (lat, lon).

    Without hemisphere letters the order is latitude, longitude (as people write it)."""
    s = text.strip().strip("()[]")
    parts = _split_pair(s)
    if parts is None:
        raise InvalidInput(Message(N_("%(text)r: expected two coordinates (latitude and longitude)"),
                                   text=text))
    (a, ha), (b, hb) = parse_angle(parts[0]), parse_angle(parts[1])
    if ha in ("E", "W") or hb in ("N", "S"):
        a, b, ha, hb = b, a, hb, ha
    return a, b


def _split_pair(s: str) -> tuple[str, str] | None:
    for sep in (";", ","):
        if s.count(sep) == 1:
            a, b = s.split(sep)
            return a, b
    # hemisphere letters split it: "39 34 16 N 126 3 20 E", "N39.5 E126.1"
    m = re.match(r"^(.*?[NSns])\s+(.*[EWew])$|^([NSns].*?)\s+([EWew].*)$", s)
    if m:
        g = [x for x in m.groups() if x]
        return g[0], g[1]
    tokens = s.split()
    if len(tokens) == 2:
        return tokens[0], tokens[1]
    return None


def check_range(lat: float, lon: float) -> None:
    if not -90 <= lat <= 90:
        raise InvalidInput(Message(N_("latitude %(lat)s is outside -90..90"), lat=f"{lat:g}"),
                           field="lat")
    if not -180 <= lon <= 180:
        raise InvalidInput(Message(N_("longitude %(lon)s is outside -180..180"), lon=f"{lon:g}"),
                           field="lon")


def parse_geometry(text: str) -> BaseGeometry:
    """WKT ('POINT (126.05 39.57)') or GeoJSON ('{"type": "Point", ...}') geometry text."""
    s = text.strip()
    try:
        g = shape(json.loads(s)) if s.startswith("{") else shapely.from_wkt(s)
    except Exception as e:  # shapely/GEOS and json raise several types
        raise InvalidInput(Message(N_("%(text)r is neither WKT nor GeoJSON geometry (%(error)s)"),
                                   text=s[:60], error=str(e))) from None
    if g.is_empty:
        raise InvalidInput(Message(N_("the geometry is empty")))
    return g
