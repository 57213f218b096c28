"""The public facility list shipped under data/sites: parse it into Site records.

Rows without published coordinates stay sites with no geometry and precision "admin unit only";
no coordinate is ever invented. Facility types are mapped onto the vocabulary and the source's
own wording is kept in `facility_type_note`.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from shapely.geometry import Point

from .errors import InvalidInput
from .model import FacilityType, Precision, Site, Tier
from .paths import check_local_path

# Ordered: first match wins.
_TYPE_RULES = [
    (r"kwalliso|kwan-li-so|political prison", FacilityType.KWALLISO),
    (r"kyohwaso|kyo-hwa-so|re-education|long-term prison|prison-labour|\bprison\b",
     FacilityType.KYOHWASO),
    # before jipkyulso: "MSS detention centre (county; not a jipkyulso)"
    (r"detention cent|kuryujang", FacilityType.KURYUJANG),
    (r"jipkyulso|holding cent", FacilityType.JIPKYULSO),
    (r"labou?r[- ]training|rodong", FacilityType.RODONG_DANRYONDAE),
    (r"execution", FacilityType.EXECUTION_SITE),
    (r"burial|grave", FacilityType.BURIAL_SITE),
]
# What one published point can say about where a facility is, by how large such places are:
# camps span tens to hundreds of km2, holding and detention centres are single compounds.
_TYPE_PRECISION = {
    FacilityType.KWALLISO: Precision.AREA,
    FacilityType.KYOHWASO: Precision.LOCALITY,
    FacilityType.JIPKYULSO: Precision.VICINITY,
    FacilityType.KURYUJANG: Precision.VICINITY,
}


def facility_type(text: str) -> FacilityType:
    t = text.lower()
    for pattern, ft in _TYPE_RULES:
        if re.search(pattern, t):
            return ft
    return FacilityType.OTHER


def site_key(name: str) -> str:
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:120]


def _split_aliases(text: str) -> list[str]:
    return [a.strip() for a in (text or "").split(";") if a.strip()]


def _hangul_name(aliases: list[str]) -> str | None:
    name = next((a for a in aliases if re.search(r"[\uac00-\ud7a3]", a)), None)
    return re.sub(r"\s*\(.*$", "", name) if name else None


def _coord(v: str, lo: float, hi: float, what: str, row: int) -> float | None:
    v = (v or "").strip()
    if not v:
        return None
    try:
        f = float(v)
    except ValueError:
        raise InvalidInput(f"row {row}: {what} {v!r} is not a number") from None
    if not lo <= f <= hi:
        raise InvalidInput(f"row {row}: {what} {f} is outside {lo}..{hi}")
    return f


def read_facilities(path: str | Path, tier: Tier = Tier.PUBLIC) -> list[Site]:
    path = check_local_path(path)
    out: list[Site] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            name = (row.get("name") or "").strip()
            if not name:
                raise InvalidInput(f"{path.name} row {i}: no name")
            aliases = _split_aliases(row.get("aliases", ""))
            lat = _coord(row.get("lat", ""), -90, 90, "lat", i)
            lon = _coord(row.get("lon", ""), -180, 180, "lon", i)
            if (lat is None) != (lon is None):
                raise InvalidInput(f"{path.name} row {i}: lat and lon must both be given or both empty")
            ft_text = (row.get("facility_type") or "").strip()
            ft = facility_type(ft_text)
            geom = Point(lon, lat) if lat is not None else None
            precision = _TYPE_PRECISION.get(ft, Precision.LOCALITY) if geom else Precision.ADMIN_UNIT
            out.append(Site(
                key=site_key(name), name=name, name_ko=_hangul_name(aliases), aliases=aliases,
                facility_type=ft, facility_type_note=ft_text or None, geometry=geom,
                precision=precision, status_note=(row.get("status_period") or "").strip() or None,
                precision_note=(row.get("precision_note") or "").strip() or None,
                sources=(row.get("source") or "").strip() or None, tier=tier,
            ))
    return out


def camp_number(site: Site) -> int | None:
    """The facility number in a name such as 'Kwan-li-so No. 15' or 'Camp 15', if any."""
    m = re.search(r"(?:No\.?|Camp)\s*(\d+)", site.name)
    return int(m[1]) if m else None
