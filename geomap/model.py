"""Domain types and controlled vocabularies (pure Python: no Flask, no database).

Vocabulary values are stable ASCII codes stored in the database; the labels are English source
strings that the web layer passes through gettext, so Korean users see Korean labels.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from shapely.geometry.base import BaseGeometry

from .errors import InvalidInput
from .periods import Period


class FacilityType(StrEnum):
    KWALLISO = "kwalliso"
    KYOHWASO = "kyohwaso"
    JIPKYULSO = "jipkyulso"
    RODONG_DANRYONDAE = "rodong_danryondae"
    KURYUJANG = "kuryujang"
    EXECUTION_SITE = "execution_site"
    BURIAL_SITE = "burial_site"
    OTHER = "other"


FACILITY_LABELS = {
    FacilityType.KWALLISO: "Political prison camp (kwalliso)",
    FacilityType.KYOHWASO: "Re-education camp / long-term prison (kyohwaso)",
    FacilityType.JIPKYULSO: "Holding centre (jipkyulso)",
    FacilityType.RODONG_DANRYONDAE: "Labour-training camp (rodong danryondae)",
    FacilityType.KURYUJANG: "Police / MSS detention centre (kuryujang)",
    FacilityType.EXECUTION_SITE: "Execution site",
    FacilityType.BURIAL_SITE: "Burial site",
    FacilityType.OTHER: "Other",
}
# Map colours per facility type (colour-blind-safe Okabe-Ito palette).
FACILITY_COLOURS = {
    FacilityType.KWALLISO: "#D55E00",
    FacilityType.KYOHWASO: "#E69F00",
    FacilityType.JIPKYULSO: "#0072B2",
    FacilityType.RODONG_DANRYONDAE: "#009E73",
    FacilityType.KURYUJANG: "#56B4E9",
    FacilityType.EXECUTION_SITE: "#000000",
    FacilityType.BURIAL_SITE: "#CC79A7",
    FacilityType.OTHER: "#999999",
}


class Precision(StrEnum):
    EXACT = "exact"
    VICINITY = "vicinity"
    LOCALITY = "locality"
    AREA = "area"
    ADMIN_UNIT = "admin_unit"


PRECISION_LABELS = {
    Precision.EXACT: "Exact (within 10 m)",
    Precision.VICINITY: "Vicinity (within 100 m)",
    Precision.LOCALITY: "Locality (within 1 km)",
    Precision.AREA: "Area (within 10 km)",
    Precision.ADMIN_UNIT: "Admin unit only",
}
PRECISION_MAX_RADIUS_M = {
    Precision.EXACT: 10.0,
    Precision.VICINITY: 100.0,
    Precision.LOCALITY: 1_000.0,
    Precision.AREA: 10_000.0,
}


def precision_for_radius(radius_m: float) -> Precision:
    """The tightest precision class whose maximum radius covers `radius_m`."""
    for p, limit in PRECISION_MAX_RADIUS_M.items():
        if radius_m <= limit:
            return p
    return Precision.ADMIN_UNIT


class Tier(StrEnum):
    INTERNAL = "internal"
    PARTNER = "partner"
    PUBLIC = "public"


TIER_LABELS = {Tier.INTERNAL: "Internal", Tier.PARTNER: "Partner", Tier.PUBLIC: "Public"}


class Violation(StrEnum):
    ARBITRARY_DETENTION = "arbitrary_detention"
    FORCED_LABOUR = "forced_labour"
    TORTURE = "torture"
    EXECUTION = "execution"
    STARVATION = "starvation"
    SEXUAL_VIOLENCE = "sexual_violence"
    ENFORCED_DISAPPEARANCE = "enforced_disappearance"
    DEATH_IN_CUSTODY = "death_in_custody"
    FORCED_ABORTION = "forced_abortion"
    PUBLIC_EXECUTION = "public_execution"


VIOLATION_LABELS = {
    Violation.ARBITRARY_DETENTION: "Arbitrary detention",
    Violation.FORCED_LABOUR: "Forced labour",
    Violation.TORTURE: "Torture / ill-treatment",
    Violation.EXECUTION: "Execution",
    Violation.STARVATION: "Deliberate starvation",
    Violation.SEXUAL_VIOLENCE: "Sexual violence",
    Violation.ENFORCED_DISAPPEARANCE: "Enforced disappearance",
    Violation.DEATH_IN_CUSTODY: "Death in custody",
    Violation.FORCED_ABORTION: "Forced abortion / infanticide",
    Violation.PUBLIC_EXECUTION: "Public execution",
}


class Relationship(StrEnum):
    DETAINED = "detained"
    SAW_DIRECTLY = "saw_directly"
    HEARD_FROM_VICTIM = "heard_from_victim"
    HEARSAY = "hearsay"


RELATIONSHIP_LABELS = {
    Relationship.DETAINED: "Was detained there",
    Relationship.SAW_DIRECTLY: "Saw directly",
    Relationship.HEARD_FROM_VICTIM: "Heard from a victim",
    Relationship.HEARSAY: "Hearsay",
}


def vocab(enum: type[StrEnum], value: str, field_name: str) -> StrEnum:
    """Convert a stored or submitted code into its enum, with an error naming the field."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(
            f"{field_name}: {value!r} is not one of {allowed}", field=field_name
        ) from None


@dataclass
class BoundaryUnit:
    level: int
    code: str
    name_en: str
    name_ko: str | None
    geometry: BaseGeometry
    unit_type: str | None = None
    source: str | None = None
    id: int | None = None


@dataclass
class AdminTag:
    """The province a location falls in, or the nearest one when it falls in none."""

    unit_id: int | None
    outside: bool = False
    distance_m: float = 0.0


class Authority(StrEnum):
    """Which ministry runs a facility: tells the twin detention centres of one town apart."""

    MSS = "MSS"  # Ministry of State Security (보위부)
    MPS = "MPS"  # Ministry of (People's/Social) Security (보안서/안전부)


AUTHORITY_LABELS = {
    Authority.MSS: "Ministry of State Security (MSS)",
    Authority.MPS: "Ministry of Social Security (MPS)",
}


class SiteStatus(StrEnum):
    OPERATING = "operating"
    CLOSED = "closed"
    REPORTED_CLOSED = "reported_closed"  # closure reported but partial, contested or unconfirmed
    UNKNOWN = "unknown"


SITE_STATUS_LABELS = {
    SiteStatus.OPERATING: "Operating",
    SiteStatus.CLOSED: "Closed",
    SiteStatus.REPORTED_CLOSED: "Reported closed (unconfirmed)",
    SiteStatus.UNKNOWN: "Unknown",
}


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


CONFIDENCE_LABELS = {Confidence.HIGH: "High", Confidence.MEDIUM: "Medium",
                     Confidence.LOW: "Low"}


@dataclass
class Citation:
    """One published source for a site: who published what, where, when, and what it supports
    (location, status, name). `accessed_via` names the mirror or copy it was seen through;
    `point_source` marks the source whose point is the site's; `detail` is for staff."""

    publisher: str
    title: str | None = None
    url: str | None = None
    date: str | None = None
    supports: list[str] = field(default_factory=list)
    accessed_via: str | None = None
    point_source: bool = False
    detail: str | None = None

    @property
    def safe_url(self) -> str | None:
        """The link, only when it is an https URL (anything else is shown as text, if at all)."""
        u = (self.url or "").strip()
        return u if re.fullmatch(r"https://[^\s\"'<>]+", u) else None


@dataclass
class Site:
    key: str
    name: str
    facility_type: FacilityType
    geometry: BaseGeometry | None  # reported point; None when no source publishes coordinates
    precision: Precision
    name_ko: str | None = None
    aliases: list[str] = field(default_factory=list)
    facility_type_note: str | None = None
    perimeter: BaseGeometry | None = None
    location_status: str = "reported"  # or "confirmed_on_imagery"
    period: Period | None = None
    status_note: str | None = None
    precision_note: str | None = None
    sources: str | None = None  # free-text sources of lists before 0011; see `citations`
    tier: Tier = Tier.INTERNAL
    admin1: AdminTag | None = None
    id: int | None = None
    # facts of the structured public list (data/sites/facilities.csv)
    authority: Authority | None = None
    name_ko_composed: bool = False  # Hangul name composed from standard terms, not a source's
    extent_km2: float | None = None
    opened: int | None = None
    opened_approx: bool = False
    closed: int | None = None
    closed_approx: bool = False
    status: SiteStatus | None = None
    confidence: Confidence | None = None
    note: str | None = None  # one public sentence for a map popup
    research_note: str | None = None  # staff only: never on a public or partner surface
    citations: list[Citation] = field(default_factory=list)

    @property
    def years_text(self) -> str | None:
        """Operating years as people write them: 'c. 1970–2014', '1958–', '–1989'."""
        return years_text(self.opened, self.opened_approx, self.closed, self.closed_approx)


def years_text(opened: int | None, opened_approx: bool, closed: int | None,
               closed_approx: bool) -> str | None:
    if opened is None and closed is None:
        return None
    a = f"{'c. ' if opened_approx else ''}{opened}" if opened else ""
    b = f"{'c. ' if closed_approx else ''}{closed}" if closed else ""
    return f"{a}–{b}"


def operating_period(opened: int | None, opened_approx: bool, closed: int | None,
                     closed_approx: bool) -> Period | None:
    """The period a site operated, for overlap with testimony periods: whole years, widened by
    the same margin as a testimony's "c. 1995" where a year is approximate."""
    from .periods import CIRCA_YEARS

    if opened is None and closed is None:
        return None
    start = date(opened - (CIRCA_YEARS if opened_approx else 0), 1, 1) if opened else None
    end = date(closed + (CIRCA_YEARS if closed_approx else 0), 12, 31) if closed else None
    return Period(years_text(opened, opened_approx, closed, closed_approx), start, end)


# json.dumps(payload, sort_keys=True, ensure_ascii=False) without building an encoder per call
# (a fifth of an import's key derivation): the same text, byte for byte, so the keys of
# testimonies stored by earlier versions still match (tests/test_model_keys.py)
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
_STR = json.encoder.encode_basestring  # what that encoder writes for a str (C)
_FLOAT = float.__repr__
_NUMBER = {float: float.__repr__, int: int.__repr__}
_FINITE = math.isfinite


def _text(v: str | None) -> str:
    return "null" if v is None else _STR(v)


@dataclass
class Testimony:
    witness_code: str
    place_text: str | None
    geometry: BaseGeometry | None
    radius_m: float | None
    precision: Precision | None
    period: Period | None
    violations: list[Violation] = field(default_factory=list)
    relationship: Relationship | None = None
    interview_date: date | None = None
    narrative: str | None = None
    tier: Tier = Tier.INTERNAL
    synthetic: bool = False
    admin1: AdminTag | None = None
    key: str | None = None
    id: int | None = None

    def content_payload(self) -> str:
        """Canonical text of the content. The store keys records by a keyed HMAC of it, so
        re-importing the same record is a no-op and the key reveals nothing about content.
        The text is json.dumps(payload_fields(), sort_keys=True, ensure_ascii=False); written
        out field by field here (an import derives 100,000 of them on its critical thread),
        through the encoder itself for any value that is not the usual kind."""
        g = self.geometry
        point = g is not None and g.geom_type == "Point"
        x, y = (round(g.x, 6), round(g.y, 6)) if point else (None, None)
        r, p, d, n = self.radius_m, self.period, self.interview_date, self.narrative
        rel, place, w = self.relationship, self.place_text, self.witness_code
        t = p.text if p else None
        if ((not point or (_FINITE(x) and _FINITE(y)))
                and (r is None or type(r) is int or (type(r) is float and _FINITE(r)))
                and (w is None or isinstance(w, str)) and (place is None or isinstance(place, str))
                and (rel is None or isinstance(rel, str)) and (n is None or isinstance(n, str))
                and (t is None or isinstance(t, str))
                and all(isinstance(v, str) for v in self.violations)):
            gs = f"[{_FLOAT(x)}, {_FLOAT(y)}]" if point else (
                "null" if g is None else _STR(g.wkt))
            return (f'{{"d": {_STR(d.isoformat()) if d else "null"}, "g": {gs}, '
                    f'"n": {_text(n)}, "p": {_text(place)}, '
                    f'"r": {"null" if r is None else _NUMBER[type(r)](r)}, '
                    f'"rel": {_text(rel)}, "t": {_text(t)}, '
                    f'"v": [{", ".join(map(_STR, sorted(self.violations)))}], '
                    f'"w": {_text(w)}}}')
        return _CANONICAL(self.payload_fields())

    def payload_fields(self) -> dict:
        """The fields the content key covers (content_payload is their canonical JSON)."""
        g = self.geometry
        return {
            "w": self.witness_code,
            "p": self.place_text,
            "g": [round(g.x, 6), round(g.y, 6)] if g is not None and g.geom_type == "Point" else
            (g.wkt if g is not None else None),
            "r": self.radius_m,
            "t": self.period.text if self.period else None,
            "v": sorted(self.violations),
            "rel": self.relationship,
            "d": self.interview_date.isoformat() if self.interview_date else None,
            "n": self.narrative,
        }
