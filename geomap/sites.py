"""The public facility list shipped under data/sites: parse it into Site records.

`facilities.csv` (one row per facility: names, authority, precision and extent, operating
years, status, confidence, a public note and a staff-only research note) with its citations in
`facility_sources.csv`; columns in data/sites/SOURCES.md. The raw list of earlier versions
(`facilities_public.csv`) is still read, its sites keyed as the structured list keys them.

Rows without published coordinates stay sites with no geometry and precision "admin unit only";
no coordinate is ever invented. Facility types are mapped onto the vocabulary and the source's
own wording is kept in `facility_type_note`.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from pathlib import Path

from shapely.geometry import Point

from .errors import InvalidInput
from .model import (
    Authority,
    Citation,
    Confidence,
    FacilityType,
    Precision,
    Site,
    SiteStatus,
    Tier,
    operating_period,
    vocab,
)
from .paths import check_local_path

SOURCES_NAME = "facility_sources.csv"  # the citations, beside facilities.csv

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


def read_facilities(path: str | Path, tier: Tier = Tier.PUBLIC,
                    sources: str | Path | None = None) -> list[Site]:
    """Sites of a facility list: the structured format (`facilities.csv`, with its citations
    from `facility_sources.csv` beside it, or `sources`) or the raw one of lists before it
    (`facilities_public.csv`, whose sites get the keys the structured list gives them)."""
    path = check_local_path(path)
    if path.suffix.lower() in VECTOR_SUFFIXES:
        return _read_structured(path, tier, sources)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    if "key" in header:
        return _read_structured(path, tier, sources)
    return _read_raw(path, tier)


# geomap's own exports of sites (geomap.exports): the structured list's columns, read by the
# testimony importer's readers; a point geometry stands for lat/lon when they are absent
VECTOR_SUFFIXES = (".geojson", ".json", ".kml", ".gpkg")


def _structured_rows(path: Path):
    if path.suffix.lower() not in VECTOR_SUFFIXES:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            yield from enumerate(csv.DictReader(fh), start=2)
        return
    from shapely import wkt
    from shapely.geometry import shape

    from .intake.readers import read_rows

    for i, row in read_rows(path):
        g = row.pop("geometry", "")
        if g and not (row.get("lat") and row.get("lon")):
            p = shape(json.loads(g)) if g.lstrip().startswith("{") else wkt.loads(g)
            if p.geom_type == "Point":
                row["lon"], row["lat"] = repr(p.x), repr(p.y)
        yield i, row


# Keys the raw list (facilities_public.csv, before issue 11) gave its sites, slugs of their
# names, and the key of the same facility in facilities.csv: re-importing keeps links attached.
LEGACY_KEYS = {
    "kwan-li-so-no-14-kaechon-camp-14": "kwalliso-14-kaechon",
    "kwan-li-so-no-15-yodok-camp-15": "kwalliso-15-yodok",
    "kwan-li-so-no-16-hwasong-camp-16": "kwalliso-16-hwasong",
    "kwan-li-so-no-25-chongjin-camp-25": "kwalliso-25-chongjin",
    "ch-oma-bong-restricted-area": "choma-bong-restricted-area",
    "kyo-hwa-so-no-12-jongo-ri-chongori": "kyohwaso-12-jongo-ri",
    "kyo-hwa-so-no-4-kangdong": "kyohwaso-4-kangdong",
    "pokchong-ni-kyo-hwa-so": "kyohwaso-pokchong-ni",
    "kyo-hwa-so-no-1-kaechon": "kyohwaso-1-kaechon",
    "kwan-li-so-no-18-pukchang-camp-18": "kwalliso-18-pukchang",
    "kwan-li-so-no-22-hoeryong-camp-22": "kwalliso-22-hoeryong",
    "kyo-hwa-so-no-9-hamhung": "kyohwaso-9-hamhung",
    "kwan-li-so-no-11-kyongsong": "kwalliso-11-kyongsong",
    "kwan-li-so-no-12-onsong": "kwalliso-12-onsong",
    "kwan-li-so-no-13-chongsong-changpyong": "kwalliso-13-chongsong",
    "kyo-hwa-so-no-3-sinuiju": "kyohwaso-3-sinuiju",
    "kyo-hwa-so-no-8-yongdam-ryongdam": "kyohwaso-8-yongdam",
    "kyo-hwa-so-no-11-chungsan": "kyohwaso-11-chungsan",
    "kyo-hwa-so-no-77-tanch-on": "kyohwaso-77-tanchon",
    "north-hamgyong-provincial-mps-holding-centre-nongpo-jipkyulso-chongjin":
        "jipkyulso-chongjin-nongpo",
    "ryanggang-provincial-mps-holding-centre-hyesan": "jipkyulso-hyesan-mps",
    "ryanggang-provincial-mss-holding-centre-hyesan": "jipkyulso-hyesan-mss",
    "north-pyongan-provincial-mps-holding-centre-sinuiju": "jipkyulso-sinuiju-mps",
    "north-pyongan-provincial-mss-detention-centre-sinuiju": "kuryujang-sinuiju-mss",
    "onsong-county-mss-detention-centre": "kuryujang-onsong-mss",
    "onsong-county-mps-detention-centre": "kuryujang-onsong-mps",
    "hoeryong-city-mss-detention-centre": "kuryujang-hoeryong-mss",
    "hoeryong-city-mps-detention-centre": "kuryujang-hoeryong-mps",
    "musan-county-mss-detention-centre": "kuryujang-musan-mss",
    "musan-county-mps-detention-centre": "kuryujang-musan-mps",
}

# "true"/"false" and 1/0: geomap's exports in GeoJSON, KML and GeoPackage
_YES = {"yes": True, "": False, "true": True, "false": False, "1": True, "0": False}


def _flag(row: dict, col: str, where: str) -> bool:
    v = (row.get(col) or "").strip().lower()
    if v not in _YES:
        raise InvalidInput(f"{where}: {col} {v!r} is not 'yes' or empty")
    return _YES[v]


def _opt(row: dict, col: str) -> str | None:
    return (row.get(col) or "").strip() or None


def _number(row: dict, col: str, where: str, cast=float):
    v = _opt(row, col)
    if v is None:
        return None
    try:
        return cast(v)
    except ValueError:
        raise InvalidInput(f"{where}: {col} {v!r} is not a number") from None


def read_citations(path: str | Path) -> dict[str, list[Citation]]:
    """`facility_sources.csv`: facility key -> its citations, in file order."""
    path = check_local_path(path)
    out: dict[str, list[Citation]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{path.name} row {i}"
            key, publisher = _opt(row, "key"), _opt(row, "publisher")
            if not key or not publisher:
                raise InvalidInput(f"{where}: key and publisher are required")
            out.setdefault(key, []).append(Citation(
                publisher=publisher, title=_opt(row, "title"), url=_opt(row, "url"),
                date=_opt(row, "date"),
                supports=[x.strip() for x in (row.get("supports") or "").split("|") if x.strip()],
                accessed_via=_opt(row, "accessed_via"),
                point_source=_flag(row, "point_source", where), detail=_opt(row, "detail")))
    return out


def _read_structured(path: Path, tier: Tier, sources: str | Path | None) -> list[Site]:
    src = Path(sources) if sources else path.with_name(SOURCES_NAME)
    citations = read_citations(src) if (sources or src.exists()) else {}
    out: list[Site] = []
    seen: set[str] = set()
    for i, row in _structured_rows(path):
        where = f"{path.name} row {i}"
        key, name = _opt(row, "key"), _opt(row, "name")
        if not key or not name:
            raise InvalidInput(f"{where}: key and name are required")
        if key in seen:
            raise InvalidInput(f"{where}: key {key!r} appears twice")
        seen.add(key)
        lat = _coord(row.get("lat", ""), -90, 90, "lat", i)
        lon = _coord(row.get("lon", ""), -180, 180, "lon", i)
        if (lat is None) != (lon is None):
            raise InvalidInput(f"{where}: lat and lon must both be given or both empty")
        geom = Point(lon, lat) if lat is not None else None
        ft = vocab(FacilityType, _opt(row, "facility_type") or "other", "facility_type")
        precision = vocab(Precision, _opt(row, "location_precision")
                          or ("locality" if geom else "admin_unit"), "location_precision")
        auth = _opt(row, "authority")
        status, conf = _opt(row, "status"), _opt(row, "confidence")
        opened, closed = _number(row, "opened", where, int), _number(row, "closed", where, int)
        o_approx, c_approx = _flag(row, "opened_approx", where), _flag(row, "closed_approx", where)
        out.append(Site(
            key=key, name=name, name_ko=_opt(row, "name_ko"),
            name_ko_composed=_flag(row, "name_ko_composed", where),
            aliases=_split_aliases(row.get("aliases", "")), facility_type=ft,
            geometry=geom, precision=precision, tier=tier,
            authority=vocab(Authority, auth, "authority") if auth else None,
            extent_km2=_number(row, "extent_km2", where),
            opened=opened, opened_approx=o_approx, closed=closed, closed_approx=c_approx,
            period=operating_period(opened, o_approx, closed, c_approx),
            status=vocab(SiteStatus, status, "status") if status else None,
            confidence=vocab(Confidence, conf, "confidence") if conf else None,
            note=_opt(row, "note"), research_note=_opt(row, "research_note"),
            citations=citations.get(key, []),
        ))
    return out


def _read_raw(path: Path, tier: Tier) -> list[Site]:
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
            key = site_key(name)
            out.append(Site(
                key=LEGACY_KEYS.get(key, key), name=name, name_ko=_hangul_name(aliases), aliases=aliases,
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
