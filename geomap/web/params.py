"""Strict query-parameter parsing: a bad value is a 400 that names the parameter and says why."""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum

from werkzeug.datastructures import MultiDict

from ..errors import InvalidInput
from ..periods import Period, parse_period
from ..store import BBox


def check_known(args: MultiDict, allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown parameter {unknown[0]!r}; this endpoint accepts: {', '.join(sorted(allowed))}",
            field=unknown[0])


def bbox(args: MultiDict, name: str = "bbox") -> BBox | None:
    raw = args.get(name)
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise InvalidInput(f"{name}: expected minlon,minlat,maxlon,maxlat (4 numbers), "
                           f"got {len(parts)} values", field=name)
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} contains a value that is not a number",
                           field=name) from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInput(f"{name}: values must be finite numbers", field=name)
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidInput(f"{name}: longitudes must be within -180..180", field=name)
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput(f"{name}: latitudes must be within -90..90 (order is lon,lat)",
                           field=name)
    if minx > maxx or miny > maxy:
        raise InvalidInput(f"{name}: min must not exceed max (minlon,minlat,maxlon,maxlat)",
                           field=name)
    return minx, miny, maxx, maxy


def enum_list(args: MultiDict, name: str, enum: type[StrEnum]) -> tuple:
    values = [v.strip() for raw in args.getlist(name) for v in raw.split(",") if v.strip()]
    out = []
    for v in values:
        try:
            out.append(enum(v))
        except ValueError:
            raise InvalidInput(f"{name}: {v!r} is not one of "
                               f"{', '.join(e.value for e in enum)}", field=name) from None
    return tuple(out)


def period(args: MultiDict, name: str = "period") -> Period | None:
    raw = args.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return parse_period(raw)
    except InvalidInput as e:
        from ..messages import N_, Message, message_of

        raise InvalidInput(Message(N_("%(parameter)s: %(problem)s"), parameter=name,
                                   problem=message_of(e)), field=name) from None


def _bounded(args: MultiDict, name: str, conv, what: str, lo, hi):
    """A number parameter within [lo, hi], or None when absent; errors name the parameter."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        v = conv(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} is not {what}", field=name) from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InvalidInput(f"{name}: must be between {lo:g} and {hi:g}", field=name)
    return v


def integer(args: MultiDict, name: str, default: int, lo: int, hi: int) -> int:
    v = _bounded(args, name, int, "an integer", lo, hi)
    return default if v is None else v


def number(args: MultiDict, name: str, lo: float, hi: float) -> float | None:
    return _bounded(args, name, float, "a number", lo, hi)
