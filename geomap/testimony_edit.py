"""Editing one testimony's imported fields by hand (permission `edit`).

`update_testimony` validates every submitted field (an error names the field and nothing is
stored), then writes the changed fields and one audit entry in one transaction: before and
after of the changed fields, except the encrypted ones (witness code, narrative), whose audit
record says only that they changed, never their text. A new location or place text proposes
the testimony's links again (geomap.corroboration.link_testimonies).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from shapely.geometry import Point

from .boundaries import admin_columns
from .dates import parse_day
from .errors import InvalidInput, NotFound
from .messages import N_, Message
from .model import Precision, Relationship, Tier, Violation, precision_for_radius
from .periods import parse_period
from .policy import SYSTEM, Principal

if TYPE_CHECKING:
    from .store.protocol import StoreLike

EDITABLE = ("witness_code", "place_text", "lat", "lon", "radius_m", "precision", "period",
            "relationship", "violations", "interview_date", "tier", "narrative")
ENCRYPTED = ("witness_code", "narrative")
MAX_RADIUS_M = 100_000.0
DEFAULT_RADIUS_M = 1_000.0
MAX_TEXT = {"witness_code": 100, "place_text": 500, "period": 200, "narrative": 100_000}


def _bad(field: str, template: str, **params) -> InvalidInput:
    return InvalidInput(Message(template, **params), field=field)


def _text(fields: dict, name: str) -> str | None:
    v = fields.get(name)
    if v is None:
        return None
    v = str(v).strip()
    if len(v) > MAX_TEXT.get(name, 1000):
        raise _bad(name, N_("too long: at most %(n)s characters"), n=MAX_TEXT.get(name, 1000))
    if "\x00" in v:
        raise _bad(name, N_("contains a character that is not allowed"))
    return v or None


def _number(fields: dict, name: str, lo: float, hi: float) -> float | None:
    v = _text(fields, name)
    if v is None:
        return None
    try:
        x = float(v.replace(",", "."))
    except ValueError:
        raise _bad(name, N_("a number is required, got %(value)r"), value=v) from None
    if x != x or not lo <= x <= hi:
        raise _bad(name, N_("must be between %(lo)s and %(hi)s"), lo=f"{lo:g}", hi=f"{hi:g}")
    return x


def _code(fields: dict, name: str, enum):
    v = _text(fields, name)
    if v is None:
        return None
    try:
        return enum(v)
    except ValueError:
        raise _bad(name, N_("%(value)r is not one of the choices"), value=v) from None


def validate(fields: dict, current: dict) -> dict:
    """The new domain values of the submitted fields (absent fields are left out: unchanged).
    Raises InvalidInput naming the first wrong field."""
    new: dict = {}
    if "witness_code" in fields:
        code = _text(fields, "witness_code")
        if code is None:
            raise _bad("witness_code", N_("a pseudonymous witness code is required"))
        new["witness_code"] = code
    if "place_text" in fields:
        new["place_text"] = _text(fields, "place_text")
    if "lat" in fields or "lon" in fields:
        lat = _number(fields, "lat", -90, 90)
        lon = _number(fields, "lon", -180, 180)
        if (lat is None) != (lon is None):
            missing = "lat" if lat is None else "lon"
            raise _bad(missing, N_("give both latitude and longitude, or neither"))
        new["geometry"] = Point(round(lon, 6), round(lat, 6)) if lat is not None else None
    located = new["geometry"] is not None if "geometry" in new else current["lon"] is not None
    if "radius_m" in fields:
        r = _number(fields, "radius_m", 1, MAX_RADIUS_M)
        new["radius_m"] = r if r is not None or not located else DEFAULT_RADIUS_M
    if "precision" in fields:
        p = _code(fields, "precision", Precision)
        if p is None and located:
            r = new.get("radius_m", current["radius_m"]) or DEFAULT_RADIUS_M
            p = precision_for_radius(r)
        new["precision"] = str(p) if p else None
    if "period" in fields:
        text = _text(fields, "period")
        try:
            new["period"] = parse_period(text)
        except InvalidInput as e:
            raise InvalidInput(e.msg or str(e), field="period") from None
    if "relationship" in fields:
        rel = _code(fields, "relationship", Relationship)
        new["relationship"] = str(rel) if rel else None
    if "violations" in fields:
        raw = fields["violations"]
        items = raw.split(",") if isinstance(raw, str) else list(raw or [])
        vs = []
        for v in items:
            if str(v).strip():
                try:
                    vs.append(str(Violation(str(v).strip())))
                except ValueError:
                    raise _bad("violations", N_("%(value)r is not one of the choices"),
                               value=str(v)) from None
        new["violations"] = sorted(set(vs))
    if "interview_date" in fields:
        text = _text(fields, "interview_date")
        day = None
        if text is not None:
            try:
                day = parse_day(text)
            except InvalidInput as e:
                raise InvalidInput(e.msg or str(e), field="interview_date") from None
            if day > date.today():
                raise _bad("interview_date", N_("the date %(text)s is in the future"), text=text)
        new["interview_date"] = day
    if "tier" in fields:
        tier = _code(fields, "tier", Tier)
        if tier is None:
            raise _bad("tier", N_("a tier is required"))
        new["tier"] = str(tier)
    if "narrative" in fields:
        new["narrative"] = _text(fields, "narrative")
    return new


def _plain(name: str, value):
    """A value as the audit log and a diff compare it."""
    if name == "geometry":
        return None if value is None else [round(value.x, 6), round(value.y, 6)]
    if name == "period":
        return None if value is None else value.text
    if isinstance(value, date):
        return value.isoformat()
    return value


def _current_plain(current: dict) -> dict:
    return {
        "witness_code": current["witness_code"], "narrative": current["narrative"],
        "place_text": current["place_text"],
        "geometry": None if current["lon"] is None else [round(current["lon"], 6),
                                                         round(current["lat"], 6)],
        "radius_m": current["radius_m"], "precision": current["precision"],
        "period": current["period"], "relationship": current["relationship"],
        "violations": sorted(current["violations"]),
        "interview_date": current["interview_date"].isoformat()
        if current["interview_date"] else None, "tier": current["tier"],
    }


def update_testimony(store: StoreLike, testimony_id: int, fields: dict, actor: Principal | str,
                     gazetteer=None) -> dict:
    """Apply the submitted `fields` (form strings; see EDITABLE) to one testimony.

    Returns {"changed": [field names], "relinked": proposals or None}. Raises NotFound for a
    testimony the actor may not see, InvalidInput (with `.field`) for a wrong value; nothing
    is stored then."""
    from .store.testimony_records import editable, write_update

    viewer = actor if isinstance(actor, Principal) else SYSTEM
    username = actor.username if isinstance(actor, Principal) else actor
    current = editable(store, testimony_id, viewer)
    if current is None:
        raise NotFound(f"testimony {testimony_id}")
    new = validate({k: v for k, v in fields.items() if k in EDITABLE}, current)
    before = _current_plain(current)
    changed = {k: v for k, v in new.items() if _plain(k, v) != before[k]}
    if not changed:
        return {"changed": [], "relinked": None}
    names = sorted("location" if k == "geometry" else k for k in changed)
    details = {"changed": names,
               "before": {k: before[k] for k in changed if k not in ENCRYPTED},
               "after": {k: _plain(k, v) for k, v in changed.items() if k not in ENCRYPTED}}
    for side in ("before", "after"):
        if "geometry" in details[side]:
            details[side]["location"] = details[side].pop("geometry")
    values = dict(changed)
    if "period" in values:
        p = values.pop("period")
        values.update(period_text=p.text if p else None, period_start=p.earliest if p else None,
                      period_end=p.latest if p else None)
    moved = "geometry" in changed
    if moved:
        values.update(admin_columns(store, changed["geometry"]))
        values["location_source"] = "researcher"
        values["geocode_note"] = "edited by a researcher"
    write_update(store, testimony_id, current["key"], values, username, details,
                 version=current["version"])
    relinked = None
    if moved or "place_text" in changed or "radius_m" in changed:
        from .corroboration import link_testimonies
        from .gazetteer import Gazetteer

        relinked = link_testimonies(store, gazetteer or Gazetteer.from_store(store, SYSTEM),
                                    [testimony_id])
    return {"changed": names, "relinked": relinked}


