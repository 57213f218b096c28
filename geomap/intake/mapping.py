"""Which column holds which field: header recognition, suggestions, and the required fields.

Headers are compared by a key that ignores case, spaces, punctuation, bracketed notes and
trailing units or hemispheres, so "Witness ID", "witness no.", "Lat (N)", "Latitude (deg)",
"Long (E)", "radius_km" and "증언자 코드" are recognised without any mapping. What is still not
recognised gets a fuzzy suggestion (rapidfuzz). When a required field has no column the import
stops before writing anything (UnmappedColumns), naming the fields, the file's headers and the
suggested `--map FIELD=COLUMN` arguments.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from pathlib import Path

from rapidfuzz import fuzz, process

from ..errors import InvalidInput, UnmappedColumns
from ..messages import N_, Message

# field -> header spellings recognised without a mapping (compared by `header_key`)
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "witness_code": (
        "witness_code", "witness", "witness_id", "witness no", "witness number", "witness ref",
        "witness reference", "witness pseudonym", "code", "interviewee", "interviewee code",
        "interviewee id", "interviewee no", "informant", "informant code", "informant id",
        "pseudonym", "respondent", "respondent id", "respondent code", "source code",
        "증인", "증인코드", "증인 번호", "증언자", "증언자 코드", "증언자번호", "증언자 id",
        "피면담자", "피면담자 코드", "피면담자 번호", "제보자", "제보자 코드", "면담자 코드"),
    "place_text": ("place_text", "place", "location", "place_name", "name", "site", "site name",
                   "facility", "facility name", "camp", "place reported", "reported place",
                   "장소", "지명", "장소명", "시설", "시설명", "수용소", "위치명"),
    "lat": ("lat", "latitude", "y", "위도"),
    "lon": ("lon", "lng", "long", "longitude", "x", "경도"),
    "coordinates": ("coordinates", "coords", "coordinate", "position", "lat lon", "lat lng",
                    "lat long", "latlon", "gps", "좌표", "위경도", "위도 경도"),
    "geometry": ("geometry", "wkt", "geom", "geojson", "shape"),
    "radius_m": ("radius_m", "radius", "uncertainty_m", "uncertainty", "uncertainty radius",
                 "accuracy", "error radius", "반경", "오차", "오차 범위", "오차 반경", "반경 오차"),
    "precision": ("precision", "location_precision", "정밀도", "위치 정밀도", "정확도"),
    "period": ("period", "when", "date", "dates", "observed", "time period", "period observed",
               "date observed", "years", "year", "기간", "시기", "연도", "년도", "목격 시기",
               "수감 기간", "구금 기간"),
    "violations": ("violations", "violation", "violation_types", "violation type", "abuses",
                   "human rights violations", "인권침해", "인권침해 유형", "침해 유형",
                   "피해 유형"),
    "relationship": ("relationship", "witness_relationship", "relation", "source type",
                     "관계", "증언자 관계", "목격 관계"),
    "interview_date": ("interview_date", "interviewed", "interview", "date of interview",
                       "interviewed on", "면담일", "면담 일자", "면담 날짜", "인터뷰 날짜",
                       "조사일"),
    "narrative": ("narrative", "description", "testimony", "account", "statement", "진술",
                  "진술 내용", "증언", "증언 내용", "내용"),
    "tier": ("tier", "visibility", "access", "공개범위", "공개 등급"),
}
FIELDS = tuple(DEFAULT_COLUMNS)
LOCATION_FIELDS = ("lat", "lon", "coordinates", "geometry", "place_text")
# trailing words that note a unit or hemisphere, not what the column holds
_UNIT_WORDS = {"n", "s", "e", "w", "deg", "degs", "degree", "degrees", "dd", "dec", "decimal",
               "wgs84", "m", "km", "meters", "metres", "도", "미터", "킬로미터"}


def header_key(header: str) -> str:
    """"Lat (N)" -> "lat", "Witness no." -> "witnessno", "증언자 코드" -> "증언자코드"."""
    s = unicodedata.normalize("NFKC", str(header)).casefold()
    s = re.sub(r"[(\[{（【].*?[)\]}）】]", " ", s)
    tokens = re.findall(r"[^\W_]+", s)
    while len(tokens) > 1 and tokens[-1] in _UNIT_WORDS:
        tokens.pop()
    return "".join(tokens)


_ALIASES = {fld: {header_key(n) for n in names} for fld, names in DEFAULT_COLUMNS.items()}


def radius_unit_m(header: str | None) -> float:
    """Metres per bare number in a radius column: 1000 when its header says km."""
    if header and re.search(r"(?<![a-z])km(?![a-z])|kilomet|킬로", str(header).casefold()):
        return 1000.0
    return 1.0


def _find(header: list[str], col: str) -> str | None:
    if col in header:
        return col
    for h in header:
        if str(h).casefold() == col.casefold():
            return h
    for h in header:
        if header_key(h) == header_key(col):
            return h
    return None


def resolve_columns(header: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """field -> the column that holds it. An explicit mapping names a column that must exist;
    other fields are found by their recognised header spellings."""
    header = [h for h in header if h is not None]
    out: dict[str, str] = {}
    for fld, col in (mapping or {}).items():
        if fld not in DEFAULT_COLUMNS:
            raise InvalidInput(f"mapping: unknown field {fld!r}; fields: "
                               f"{', '.join(DEFAULT_COLUMNS)}")
        if not col:
            continue
        if not isinstance(col, str):
            raise InvalidInput(f"mapping: {fld} -> {col!r} is not a column name", field=fld)
        found = _find(header, col)
        if found is None:
            raise InvalidInput(Message(N_(
                "mapping: %(field)s -> column %(col)r, but the file has no such column "
                "(columns: %(columns)s)"), field=fld, col=col, columns=", ".join(header)),
                field=fld)
        out[fld] = found
    for fld in DEFAULT_COLUMNS:
        if fld in out or (mapping and fld in mapping):
            continue
        for h in header:
            if header_key(h) in _ALIASES[fld] and h not in out.values():
                out[fld] = h
                break
    return out


# a column that holds people's names is never proposed as the witness code: a witness code is
# pseudonymous, and "Witness name" is near "witness" to a fuzzy matcher
_PERSONAL_NAME = re.compile(r"name|이름|성명|실명|성함|姓名")


def suggest_columns(header: list[str], columns: dict[str, str]) -> dict[str, str]:
    """field -> the unused column whose header is nearest to one of the field's spellings."""
    free = [h for h in header if h not in columns.values() and header_key(h)]
    scored = []
    for fld in DEFAULT_COLUMNS:
        if fld in columns:
            continue
        aliases = [a for a in _ALIASES[fld] if len(a) >= 3]
        for h in free:
            if fld == "witness_code" and _PERSONAL_NAME.search(header_key(h)):
                continue
            best = process.extractOne(header_key(h), aliases, scorer=fuzz.WRatio,
                                      score_cutoff=80)
            if best:
                scored.append((best[1], fld, h))
    out: dict[str, str] = {}
    for _score, fld, h in sorted(scored, key=lambda t: -t[0]):
        if fld not in out and h not in out.values():
            out[fld] = h
    return out


def missing_fields(columns: dict[str, str]) -> list[str]:
    """Required fields without a column: a witness code, and a location of some kind."""
    missing = [] if "witness_code" in columns else ["witness_code"]
    has_location = any(f in columns for f in ("coordinates", "geometry", "place_text")) or \
        ("lat" in columns and "lon" in columns)
    if not has_location:
        if "lat" in columns:
            missing.append("lon")
        elif "lon" in columns:
            missing.append("lat")
        else:
            missing.append("location")
    return missing


def map_arguments(mapping: dict[str, str]) -> list[str]:
    """The CLI arguments that apply `mapping`, quoted for a POSIX shell."""
    return [f"--map {shlex.quote(f'{fld}={col}')}" for fld, col in mapping.items()]


def require_columns(header: list[str], columns: dict[str, str]) -> None:
    """Raise UnmappedColumns when a required field has no column (before anything is written)."""
    missing = missing_fields(columns)
    if not missing or not header:
        return
    suggested = suggest_columns(header, columns)
    wanted = {"witness_code"} if "witness_code" in missing else set()
    if {"location", "lat", "lon"} & set(missing):
        wanted |= set(LOCATION_FIELDS)
    proposal = {f: c for f, c in suggested.items() if f in wanted}
    names = {"location": "location (lat and lon, coordinates, geometry or place_text)"}
    msg = (f"no column recognised for {', '.join(names.get(m, m) for m in missing)}; nothing "
           f"was imported. The file's columns: {', '.join(header)}.")
    if proposal:
        msg += " Suggested: " + " ".join(map_arguments(proposal))
    else:
        msg += " Map them with --map FIELD=COLUMN (fields: " + ", ".join(FIELDS) + ")"
    raise UnmappedColumns(msg, unmapped=missing, header=list(header), recognised=dict(columns),
                          suggested={m: suggested.get(m) for m in FIELDS if m in wanted})


def preview(path: str | Path, mapping: dict[str, str] | None = None, rows: int = 5,
            name: str | None = None) -> dict:
    """What the mapping step shows: the file's headers, its first rows (as text), the columns
    recognised (or mapped) per field, suggestions for the rest and the fields still missing."""
    from .readers import read_rows

    header: dict[str, None] = {}
    first: list[dict] = []
    for i, (_n, raw) in enumerate(read_rows(Path(path), name=name)):
        header.update(dict.fromkeys(k for k in raw if k is not None))
        if len(first) < rows:
            first.append({k: "" if v is None else str(v) for k, v in raw.items()})
        if i >= 50:
            break
    cols = list(header)
    columns = resolve_columns(cols, mapping)
    return {"header": cols, "rows": [[r.get(h, "") for h in cols] for r in first],
            "columns": columns, "suggested": suggest_columns(cols, columns),
            "missing": missing_fields(columns)}
