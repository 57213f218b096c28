"""Domain types and controlled vocabularies (pure Python: no Flask, no database).

Vocabulary values are stable ASCII codes stored in the database; the labels are English source
strings that the web layer passes through gettext, so Korean users see Korean labels.
"""

from __future__ import annotations

import json
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
    sources: str | None = None
    tier: Tier = Tier.INTERNAL
    admin1: AdminTag | None = None
    id: int | None = None


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
        re-importing the same record is a no-op and the key reveals nothing about content."""
        g = self.geometry
        payload = {
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
        return json.dumps(payload, sort_keys=True, ensure_ascii=False)
