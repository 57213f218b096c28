"""Entities from Uwazi (HURIDOCS), imported as sites or testimonies through a template mapping.

Three shapes Uwazi produces, read as Uwazi writes them (huridocs/uwazi, app/api/csv/):
- the CSV *import* dialect (csvLoader/entityRow/typeParsers): headers are property names
  (`safeName` of the label), translated columns end in `__<lang>` (`title__en`, `title__ko`),
  several values are joined by `|`, a geolocation is `lat|lon`, a date range `from:to`;
- the CSV *export* dialect (csvExporter/typeFormatters): headers are labels, "Title", "Date
  added" and "Template" first and "Documents", "Attachments", "Published" last, a date range is
  `from~to`, a geolocation `lat|lon` (the first one only), Published/Unpublished per row;
- JSON from the API (`/api/search`, `/api/entities`: `{"rows": [entity, ...]}`): an entity is
  {title, template (an id), language, sharedId, published, metadata: {name: [{value, label}]}},
  dates as epoch seconds, a range {from, to}, a geolocation {lat, lon, label}.

The mapping (TOML or JSON; an example ships in uwazi_mappings/) names, per Uwazi template, the
geomap target (sites or testimonies), each property's Uwazi type and the geomap field it feeds.
Every non-empty cell a row had is reported as used or dropped with the reason. The mapped rows
then go through the same paths as other imports: testimonies through `import_testimonies`
(validation, encryption, quarantine, content keys that make a re-import add nothing), sites
through `upsert_sites` keyed by the Uwazi sharedId (or title) as `geomap sites import-public`
stores them. Unpublished entities are skipped unless asked for, and then always internal tier.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..messages import N_, Message
from ..model import FacilityType, Precision, Site, Tier, operating_period
from ..paths import check_local_path
from .readers import decode_text, read_rows

if TYPE_CHECKING:
    from ..store.protocol import StoreLike
    from .run import ImportReport

IMPORT_CSV, EXPORT_CSV, API_JSON = "import-csv", "export-csv", "api-json"
MAPPINGS_DIR = Path(__file__).with_name("uwazi_mappings")
DEFAULT_MAPPING = MAPPINGS_DIR / "example_detention_database.toml"
# csvDefinitions.ts
MULTI_SEP, RANGE_IMPORT_SEP, RANGE_EXPORT_SEP, LANG_SEP, PARENT_CHILD_SEP = "|", ":", "~", "__", "::"
# the export's common columns (csvExporter.ts prependCommonHeaders/concatCommonHeaders)
EXPORT_FIRST, EXPORT_LAST = ("Title", "Date added", "Template"), ("Documents", "Attachments",
                                                                  "Published")
SITE_FIELDS = {"name", "location", "facility_type", "period", "aliases", "status_note", "note",
               "research_note", "sources", "precision_note"}
TESTIMONY_FIELDS = {"witness_code", "place_text", "location", "period", "violations",
                    "relationship", "interview_date", "narrative", "radius_m", "precision"}
TYPES = {"text", "markdown", "numeric", "generatedid", "select", "multiselect", "geolocation",
         "date", "multidate", "daterange", "multidaterange", "relationship", "link", "image",
         "media", "preview", "nested", "newRelationship"}
_RELATIONSHIP = N_("relationship fields are not supported (they link other Uwazi entities; "
                   "link sites and testimonies in geomap)")
_FILES = N_("files are not imported")
UNSUPPORTED = {"relationship": _RELATIONSHIP, "newRelationship": _RELATIONSHIP,
               "link": N_("link fields are not supported"), "image": _FILES, "media": _FILES,
               "preview": _FILES, "nested": N_("nested fields are not supported")}
_VALUE_SHOWN = 80  # characters of a dropped value the report repeats


# -- the mapping -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prop:
    name: str
    label: str
    type: str
    to: str | None = None


@dataclass
class TemplateMap:
    name: str
    target: str  # "sites" | "testimonies"
    properties: list[Prop]
    ids: list[str] = field(default_factory=list)
    tier: Tier = Tier.INTERNAL

    def prop_by_name(self, name: str) -> Prop | None:
        return next((p for p in self.properties if p.name == name), None)

    def prop_by_label(self, label: str) -> Prop | None:
        k = label.strip().casefold()
        return next((p for p in self.properties if p.label.strip().casefold() == k), None)


@dataclass
class UwaziMapping:
    templates: list[TemplateMap]
    source: str

    def template(self, name_or_id: str | None) -> TemplateMap | None:
        if not name_or_id:
            return None
        k = name_or_id.strip().casefold()
        return next((t for t in self.templates
                     if t.name.casefold() == k or name_or_id.strip() in t.ids), None)


def safe_name(label: str) -> str:
    """Uwazi's property name of a label (shared/propertyNames.ts, the default generation)."""
    return re.sub(r"[^a-z0-9]", "_", label.strip(), flags=re.I).lower()


def load_mapping(path: str | Path | None = None) -> UwaziMapping:
    """A template mapping from TOML or JSON ({"templates": [...]}, as the example); the shipped
    example when no path is given. InvalidInput naming the entry that is wrong."""
    p = check_local_path(path) if path else DEFAULT_MAPPING
    try:
        text = p.read_text(encoding="utf-8-sig")
        doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as e:
        raise InvalidInput(f"{p.name}: cannot be read ({e.strerror or e})") from None
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise InvalidInput(f"{p.name}: not a valid mapping file ({e})") from None
    raw = doc.get("templates") if isinstance(doc, dict) else None
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{p.name}: expected a list of templates ([[templates]] entries)")
    out = []
    for i, t in enumerate(raw, start=1):
        where = f"{p.name}: template {i}"
        if not isinstance(t, dict) or not str(t.get("name") or "").strip():
            raise InvalidInput(f"{where}: needs a name")
        target = t.get("target")
        if target not in ("sites", "testimonies"):
            raise InvalidInput(f"{where}: target must be \"sites\" or \"testimonies\", not "
                               f"{target!r}")
        allowed = SITE_FIELDS if target == "sites" else TESTIMONY_FIELDS
        try:
            tier = Tier(t.get("tier", "internal"))
        except ValueError:
            raise InvalidInput(f"{where}: tier {t.get('tier')!r} is not internal, partner or "
                               "public") from None
        props = []
        for j, q in enumerate(t.get("properties") or [], start=1):
            if not isinstance(q, dict) or not (q.get("name") or q.get("label")):
                raise InvalidInput(f"{where}: property {j} needs a name or a label")
            label = str(q.get("label") or q["name"])
            ptype = str(q.get("type") or "text")
            if ptype not in TYPES:
                raise InvalidInput(f"{where}: property {label!r}: unknown Uwazi type {ptype!r}")
            to = q.get("to")
            if to is not None and to not in allowed:
                raise InvalidInput(f"{where}: property {label!r}: {to!r} is not a geomap "
                                   f"{target} field ({', '.join(sorted(allowed))})")
            if to == "location" and ptype != "geolocation":
                raise InvalidInput(f"{where}: property {label!r}: location needs a geolocation")
            props.append(Prop(str(q.get("name") or safe_name(label)), label, ptype, to))
        if not any(q.name == "title" for q in props):
            props.insert(0, Prop("title", "Title", "text", None))
        out.append(TemplateMap(str(t["name"]), target, props,
                               [str(x) for x in t.get("ids") or []], tier))
    return UwaziMapping(out, p.name)


# -- reading -----------------------------------------------------------------------------------
@dataclass
class Entity:
    """One Uwazi entity as read: per property name, its raw value per language (None: a column
    without a language suffix). Raw values are CSV text or the API's [{value, ...}] lists."""

    row: int
    template: str | None = None  # name (export CSV) or id (JSON)
    published: bool | None = None  # None: the file does not say (the import dialect)
    shared_id: str | None = None
    values: dict[str, dict[str | None, Any]] = field(default_factory=dict)
    columns: dict[tuple[str, str | None], str] = field(default_factory=dict)  # -> as in file
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # (column, value, why)


_LANG = re.compile(r"^(.*)__([a-z]{2,3}(?:-[a-z]{2,4})?)$", re.I)


def detect_dialect(header: list[str]) -> str:
    """The import dialect (property names, `__lang` columns) or the export one (labels, the
    common Title/Template/Published columns)."""
    if "Published" in header or {"Title", "Template"} <= set(header) \
            or "Date added" in header:
        return EXPORT_CSV
    return IMPORT_CSV


def read_entities(path: str | Path, name: str | None = None) -> tuple[str, str | None,
                                                                      list[Entity]]:
    """(dialect, text encoding, entities) of an Uwazi CSV or API JSON file."""
    p = check_local_path(path)
    name = name or p.name
    if p.suffix.lower() == ".json":
        try:
            data = p.read_bytes()
        except OSError as e:
            raise InvalidInput(Message(N_("%(name)s: cannot be read (%(error)s)"), name=name,
                                   error=e.strerror or str(e))) from None
        text, encoding = decode_text(data, name)
        return API_JSON, encoding, _json_entities(text, name)
    if p.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise InvalidInput(Message(N_("%(name)s: an Uwazi file is a CSV export (.csv) or API "
                                      "JSON (.json)"), name=name))
    rows = read_rows(p, name=name)  # encodings, BOM, blank rows as every other import
    rows.scan()
    out: list[Entity] = []
    dialect = None
    for n, row in rows:
        if dialect is None:
            dialect = detect_dialect(list(row))
            _check_header(list(row), dialect, name)
        if not any(v.strip() for v in row.values()):
            continue
        out.append(_csv_entity(n, row, dialect))
    return dialect or IMPORT_CSV, rows.encoding, out


def _check_header(header: list[str], dialect: str, name: str) -> None:
    titles = [h for h in header if h == "Title" or safe_name(_LANG.sub(r"\1", h)) == "title"]
    if not titles:
        raise InvalidInput(Message(N_("%(name)s: no Title column; is this an Uwazi CSV? "
                                      "(columns: %(columns)s)"), name=name,
                                   columns=", ".join(header[:12])))


def _csv_entity(n: int, row: dict[str, str], dialect: str) -> Entity:
    e = Entity(n)
    for col, val in row.items():
        if dialect == EXPORT_CSV and col in EXPORT_FIRST + EXPORT_LAST:
            if col == "Title":
                e.values.setdefault("title", {})[None] = val
                e.columns[("title", None)] = col
            elif col == "Template":
                e.template = val or None
            elif col == "Published":
                e.published = val.strip().casefold() != "unpublished"
            elif val:
                e.extra.append((col, val, N_("Uwazi bookkeeping (not imported)")
                                if col == "Date added" else _FILES))
            continue
        if dialect == EXPORT_CSV:  # labels: matched to properties once the template is known
            e.values.setdefault(col, {})[None] = val
            e.columns[(col, None)] = col
            continue
        m = _LANG.match(col)
        prop, lang = (safe_name(m[1]), m[2].lower()) if m else (safe_name(col), None)
        e.values.setdefault(prop, {})[lang] = val
        e.columns[(prop, lang)] = col
    return e


def _json_entities(text: str, name: str) -> list[Entity]:
    from .readers import load_json

    doc = load_json(text, name)
    items = doc.get("rows") if isinstance(doc, dict) and "rows" in doc else doc
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise InvalidInput(Message(N_("%(name)s: expected Uwazi API JSON: {\"rows\": [entity, "
                                      "...]}, a list of entities or one entity"), name=name))
    out: list[Entity] = []
    by_shared: dict[str, Entity] = {}
    for i, it in enumerate(items, start=1):
        if not isinstance(it, dict) or "title" not in it:
            raise InvalidInput(Message(N_("%(name)s: entity %(i)s is not an Uwazi entity (no "
                                          "title)"), name=name, i=i))
        meta = it.get("metadata") or {}
        if not isinstance(meta, dict):
            raise InvalidInput(Message(N_("%(name)s: entity %(i)s: metadata is not an object"),
                                       name=name, i=i))
        lang = str(it.get("language") or "") or None
        sid = str(it.get("sharedId") or "") or None
        # the API gives one language per entity: the same sharedId in another language is a
        # translation of the entity already read
        e = by_shared.get(sid) if sid else None
        if e is None:
            e = Entity(i, template=str(it.get("template") or "") or None,
                       published=it["published"] if isinstance(it.get("published"), bool)
                       else None, shared_id=sid)
            out.append(e)
            if sid:
                by_shared[sid] = e
        e.values.setdefault("title", {})[lang] = it.get("title")
        e.columns[("title", lang)] = "title"
        for k, v in meta.items():
            e.values.setdefault(str(k), {})[lang] = v
            e.columns[(str(k), lang)] = f"metadata.{k}"
        for k in ("documents", "attachments"):
            if it.get(k):
                e.extra.append((k, f"{len(it[k])} file(s)", _FILES))
    return out


# -- values ------------------------------------------------------------------------------------
class Unparsable(ValueError):
    """A cell whose value its Uwazi type cannot read; `msg` says why."""

    def __init__(self, why: str, /, **params: Any):
        self.msg = Message(why, **params)
        super().__init__(str(self.msg))


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


def _shown(raw: Any) -> str:
    s = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return s if len(s) <= _VALUE_SHOWN else s[:_VALUE_SHOWN] + "…"


def _json_values(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        return [x.get("value") if isinstance(x, dict) else x for x in raw]
    return [raw]


def _json_labels(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(x.get("label") or x.get("value")) if isinstance(x, dict) else str(x)
                for x in raw if x is not None]
    return [str(raw)]


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y %m %d", "%B %d, %Y", "%d/%m/%Y", "%Y")


def _date(v: Any) -> tuple[date, bool]:
    """(date, year only) of an Uwazi date: epoch seconds (JSON) or text (CSV, the formats
    typeParsers.ts accepts: YYYY-MM-DD, YYYY/MM/DD, YYYY MM DD, LL, YYYY, and DD/MM/YYYY)."""
    if isinstance(v, bool):
        raise Unparsable(N_("%(value)s is not a date"), value=repr(v))
    if isinstance(v, int | float):
        if not math.isfinite(v):
            raise Unparsable(N_("%(value)s is not a date"), value=repr(v))
        try:
            return datetime.fromtimestamp(v, UTC).date(), False
        except (OverflowError, OSError, ValueError):
            raise Unparsable(N_("%(value)s is not a date (epoch seconds out of range)"),
                             value=repr(v)) from None
    s = str(v).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date(), fmt == "%Y"
        except ValueError:
            continue
    raise Unparsable(N_("%(value)s is not a date (YYYY-MM-DD, YYYY/MM/DD, DD/MM/YYYY or YYYY)"),
                     value=repr(s[:40]))


def _date_text(d: date, year_only: bool) -> str:
    return str(d.year) if year_only else d.isoformat()


def _range(raw: Any, dialect: str) -> tuple[tuple[date, bool] | None, tuple[date, bool] | None]:
    if isinstance(raw, dict):  # JSON {from, to}
        a, b = raw.get("from"), raw.get("to")
    else:
        s = str(raw)
        sep = RANGE_EXPORT_SEP if RANGE_EXPORT_SEP in s or dialect == EXPORT_CSV \
            else RANGE_IMPORT_SEP
        if sep not in s:
            raise Unparsable(N_("%(value)s is not a date range (from%(sep)sto)"),
                             value=repr(s[:40]), sep=sep)
        a, _, b = s.partition(sep)
        a, b = a.strip() or None, b.strip() or None
    fa = _date(a) if a not in (None, "") else None
    fb = _date(b) if b not in (None, "") else None
    if fa is None and fb is None:
        raise Unparsable(N_("an empty date range"))
    if fa and fb and fa[0] > fb[0]:
        raise Unparsable(N_("the range ends (%(to)s) before it starts (%(from)s)"),
                         to=str(fb[0]), **{"from": str(fa[0])})
    return fa, fb


def _geo(v: Any) -> tuple[float, float]:
    try:
        if isinstance(v, dict):
            lat, lon = float(v["lat"]), float(v["lon"])
        else:
            lat, lon = (float(x) for x in v)
    except (KeyError, TypeError, ValueError):
        shown = MULTI_SEP.join(map(str, v)) if isinstance(v, list) else _shown(v)
        raise Unparsable(N_("%(value)s is not a geolocation (lat|lon)"), value=repr(shown)) \
            from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
            and -180 <= lon <= 180):
        raise Unparsable(N_("%(lat)s|%(lon)s is outside -90..90 | -180..180"), lat=lat, lon=lon)
    return lat, lon


def convert(prop: Prop, raw: Any, dialect: str) -> tuple[Any, list[str]]:
    """(the value, notes on what of it was left out) of one non-empty cell by its Uwazi type:
    text -> str; select/multiselect -> [labels]; geolocation -> (lat, lon) (the first of
    several); date -> (date, year only); daterange -> (from, to). Raises Unparsable."""
    t, js = prop.type, not isinstance(raw, str)
    notes: list[str] = []
    if t in ("select", "multiselect"):
        labels = _json_labels(raw) if js else [x.strip() for x in raw.split(MULTI_SEP)
                                               if x.strip()]
        # a thesaurus group ("Group::Value"): the value is what is meant
        return [x.split(PARENT_CHILD_SEP)[-1].strip() for x in labels], notes
    if t == "geolocation":
        if js:
            points = [_geo(v) for v in _json_values(raw) if v]
        else:
            parts = [x.strip() for x in raw.split(MULTI_SEP)]
            if len(parts) % 2 or not parts:
                raise Unparsable(N_("%(value)s is not a geolocation (lat|lon)"),
                                 value=repr(_shown(raw)))
            points = [_geo(parts[i:i + 2]) for i in range(0, len(parts), 2)]
        if not points:
            raise Unparsable(N_("no geolocation"))
        if len(points) > 1:
            notes.append(Message(N_("%(n)s more geolocation(s) left out: only the first is "
                                    "used (%(points)s)"), n=len(points) - 1,
                                 points=", ".join(f"{a}|{b}" for a, b in points[1:4])))
        return points[0], notes
    if t in ("date", "multidate"):
        vals = _json_values(raw) if js else [x for x in raw.split(MULTI_SEP) if x.strip()] \
            if t == "multidate" else [raw]
        if len(vals) > 1:
            notes.append(Message(N_("%(n)s more date(s) left out: only the first is used"),
                                 n=len(vals) - 1))
        return _date(vals[0]), notes
    if t in ("daterange", "multidaterange"):
        vals = _json_values(raw) if js else [x for x in raw.split(MULTI_SEP) if x.strip()] \
            if t == "multidaterange" else [raw]
        if len(vals) > 1:
            notes.append(Message(N_("%(n)s more date range(s) left out: only the first is "
                                    "used"), n=len(vals) - 1))
        return _range(vals[0], dialect), notes
    # text, markdown, numeric, generatedid
    vals = _json_values(raw) if js else [raw]
    text = " ".join(str(v) for v in vals if v is not None).strip()
    if not text:
        raise Unparsable(N_("empty"))
    return text, notes


def _as_text(prop: Prop, value: Any) -> str:
    """A converted value as a cell of geomap's own import (periods as parse_period reads)."""
    if prop.type in ("daterange", "multidaterange"):
        a, b = value
        if a and b:
            return f"{_date_text(*a)} to {_date_text(*b)}"
        return f"from {_date_text(*a)}" if a else f"until {_date_text(*b)}"
    if prop.type in ("date", "multidate"):
        return _date_text(*value)
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


# -- the report --------------------------------------------------------------------------------
@dataclass
class RowReport:
    row: int
    title: str | None
    template: str | None
    status: str = "mapped"  # mapped | skipped | stored | quarantined | would store
    reason: Message | str | None = None  # str: the quarantine's problems, in English
    used: list[dict] = field(default_factory=list)  # {column, field}
    dropped: list[dict] = field(default_factory=list)  # {column, value, reason: Message}
    notes: list[Message] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)  # a quarantined row's, as run gives

    def drop(self, column: str, value: Any, why: str, /, **params: Any) -> None:
        self.dropped.append({"column": column, "value": _shown(value),
                             "reason": Message(why, **params)})

    def as_dict(self) -> dict:
        """JSON-ready, the messages in English."""
        return {"row": self.row, "title": self.title, "template": self.template,
                "status": self.status, "reason": str(self.reason) if self.reason else None,
                "used": self.used, "notes": [str(n) for n in self.notes],
                "dropped": [{**d, "reason": str(d["reason"])} for d in self.dropped],
                "problems": self.problems}


@dataclass
class UwaziReport:
    source: str
    dialect: str
    encoding: str | None
    language: str
    dry_run: bool
    rows: list[RowReport] = field(default_factory=list)
    sites_inserted: int = 0
    sites_updated: int = 0
    testimonies: ImportReport | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.rows))

    def as_dict(self) -> dict:
        return {"source": self.source, "dialect": self.dialect, "encoding": self.encoding,
                "language": self.language, "dry_run": self.dry_run, "counts": self.counts,
                "sites": {"inserted": self.sites_inserted, "updated": self.sites_updated},
                "testimonies": self.testimonies.as_dict() if self.testimonies else None,
                "rows": [r.as_dict() for r in self.rows]}

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        out = [f"{self.source}: Uwazi {self.dialect}"
               + (f" ({self.encoding})" if self.encoding else "")
               + f", {len(self.rows)} entities: {counts or 'none'}"]
        if self.sites_inserted or self.sites_updated:
            verb = "would be" if self.dry_run else ""
            out.append(f"  sites: {self.sites_inserted} inserted, {self.sites_updated} updated "
                       f"{verb}".rstrip())
        if self.testimonies:
            out += ["  testimonies: " + x.strip() for x in self.testimonies.lines()[:1]]
        for r in self.rows:
            head = f"  row {r.row} {r.title or '(no title)'!r} [{r.template or '?'}]: {r.status}"
            out.append(head + (f" ({r.reason})" if r.reason else ""))
            if r.used:
                out.append("    used: " + ", ".join(f"{u['column']} -> {u['field']}"
                                                    for u in r.used))
            for d in r.dropped:
                out.append(f"    dropped {d['column']} = {d['value']!r}: {d['reason']}")
            out += [f"    note: {n}" for n in r.notes]
        return out


# -- mapping one entity ------------------------------------------------------------------------
@dataclass
class Mapped:
    """One entity's geomap values: field -> value (converted), with its report."""

    report: RowReport
    target: str
    tier: Tier
    values: dict[str, Any] = field(default_factory=dict)
    props: dict[str, Prop] = field(default_factory=dict)  # field -> the property it came from
    key: str | None = None


def _pick_template(e: Entity, mapping: UwaziMapping, forced: TemplateMap | None,
                   guessed: TemplateMap | None) -> TemplateMap | None:
    """The entity's own template when the file names it (export CSV, API JSON); --template
    for one the mapping does not know (an API template id missing from `ids`); else the
    template the columns point to."""
    if e.template:
        return mapping.template(e.template) or forced
    return forced or guessed


def _guess_template(entities: list[Entity], mapping: UwaziMapping, dialect: str
                    ) -> TemplateMap | None:
    """The template an import-dialect file (which names none: Uwazi's form picks it) or an
    export without a Template column was made for: the one whose properties match the most
    columns (ties: none, so the caller asks for --template)."""
    if len(mapping.templates) == 1:
        return mapping.templates[0]
    cols = {k for e in entities[:50] for k in e.values}

    def score(t: TemplateMap) -> int:
        return sum(1 for c in cols if c != "title" and (
            t.prop_by_name(c) if dialect != EXPORT_CSV else t.prop_by_label(c)))

    ranked = sorted(((score(t), t) for t in mapping.templates), key=lambda x: -x[0])
    if ranked and ranked[0][0] > 0 and (len(ranked) == 1 or ranked[1][0] < ranked[0][0]):
        return ranked[0][1]
    return None


def map_entity(e: Entity, t: TemplateMap, dialect: str, language: str) -> Mapped:
    """The geomap values of one entity under its template: for each property, the value in
    `language` (else the untranslated column, else another language); the other languages'
    values kept where the target has a field for them (a site's Korean name, its aliases),
    reported as dropped otherwise."""
    title = _first_title(e, language)
    rep = RowReport(e.row, title, t.name)
    tier = t.tier if e.published is not False else Tier.INTERNAL
    m = Mapped(rep, t.target, tier)
    for col, val, why in e.extra:
        rep.drop(col, val, why)
    for pname, by_lang in e.values.items():
        prop = t.prop_by_label(pname) if dialect == EXPORT_CSV and pname != "title" \
            else t.prop_by_name(pname)
        present = {lang: v for lang, v in by_lang.items() if not _is_empty(v)}
        for lang, v in present.items():
            col = e.columns.get((pname, lang), pname)
            if prop is None:
                rep.drop(col, v, N_("unknown property: template %(name)s has no "
                                    "%(property)s"), name=repr(t.name), property=repr(pname))
            elif prop.type in UNSUPPORTED:
                rep.drop(col, v, UNSUPPORTED[prop.type])
            elif prop.to is None:
                rep.drop(col, v, N_("not mapped to a geomap field"))
        if prop is None or prop.type in UNSUPPORTED or prop.to is None or not present:
            continue
        chosen = language if language in present else None if None in present \
            else next(iter(present))
        for lang, v in present.items():
            col = e.columns.get((pname, lang), pname)
            try:
                value, notes = convert(prop, v, dialect)
            except Unparsable as x:
                rep.drop(col, v, N_("unparsable %(type)s: %(error)s"), type=prop.type,
                         error=x.msg)
                continue
            if lang == chosen:
                if prop.to in m.values:  # two properties for one field: the first wins
                    rep.drop(col, v, N_("%(field)s already filled by another property"),
                             field=prop.to)
                    continue
                m.values[prop.to], m.props[prop.to] = value, prop
                rep.used.append({"column": col, "field": prop.to})
                rep.notes += notes
            elif t.target == "sites" and prop.to == "name":
                fld = "name_ko" if lang == "ko" else "aliases"
                m.values.setdefault("_other_names", []).append((lang, value))
                rep.used.append({"column": col, "field": fld})
            elif t.target == "sites" and prop.to == "aliases" and isinstance(value, list):
                m.values.setdefault("_more_aliases", []).extend(value)
                rep.used.append({"column": col, "field": "aliases"})
            else:
                rep.drop(col, v, N_("%(lang)s version: %(field)s holds one language (chose "
                                    "%(chosen)s)"), lang=lang or "-", field=prop.to,
                         chosen=chosen or "-")
    m.key = _key(e, t, language)
    return m


def _first_title(e: Entity, language: str) -> str | None:
    titles = {k: v for k, v in (e.values.get("title") or {}).items() if not _is_empty(v)}
    v = titles.get(language) or titles.get(None) or next(iter(titles.values()), None)
    return str(v).strip() if v is not None else None


def _key(e: Entity, t: TemplateMap, language: str) -> str | None:
    """A site's key: the Uwazi sharedId when the file has it (API JSON), else a slug of the
    English (or untranslated) title, else a hash of the title, so re-imports update in place."""
    from ..sites import site_key

    if e.shared_id:
        return f"uwazi-{safe_name(e.shared_id).strip('_')}"[:120]
    titles = {k: str(v).strip() for k, v in (e.values.get("title") or {}).items()
              if not _is_empty(v)}
    base = titles.get("en") or titles.get(None) or titles.get(language) \
        or next(iter(titles.values()), "")
    slug = site_key(base)
    if not slug:
        slug = hashlib.sha256(base.encode()).hexdigest()[:16]
    return f"uwazi-{slug}"[:120]


# -- storing -----------------------------------------------------------------------------------
def _site(m: Mapped) -> Site:
    from ..sites import facility_type

    v = m.values
    name = str(v.get("name") or "").strip()
    others = v.get("_other_names", [])
    name_ko = next((str(x) for lang, x in others if lang == "ko"), None)
    aliases = [str(x) for lang, x in others if lang != "ko"]
    aliases += list(v.get("aliases") or []) + list(v.get("_more_aliases") or [])
    if name_ko is None and re.search(r"[\uac00-\ud7a3]", name):
        name_ko = name
    ft_text = v.get("facility_type")
    ft_text = "; ".join(ft_text) if isinstance(ft_text, list) else ft_text
    geom = None
    if "location" in v:
        from shapely.geometry import Point

        lat, lon = v["location"]
        geom = Point(lon, lat)
    opened = closed = None
    if "period" in v:
        p = m.props["period"]
        if p.type in ("daterange", "multidaterange"):
            a, b = v["period"]
            opened, closed = (a[0].year if a else None), (b[0].year if b else None)
        elif p.type in ("date", "multidate"):
            opened = v["period"][0].year
    text = {k: _as_text(m.props[k], v[k]) for k in ("status_note", "note", "research_note",
                                                      "sources", "precision_note") if k in v}
    return Site(
        key=m.key or "", name=name, name_ko=name_ko, aliases=list(dict.fromkeys(aliases)),
        facility_type=facility_type(ft_text) if ft_text else FacilityType.OTHER,
        facility_type_note=ft_text or None, geometry=geom,
        precision=Precision.LOCALITY if geom is not None else Precision.ADMIN_UNIT,
        opened=opened, closed=closed, period=operating_period(opened, False, closed, False),
        tier=m.tier, **text)


_TESTIMONY_COLUMNS = ("witness_code", "place_text", "lat", "lon", "period", "violations",
                      "relationship", "interview_date", "narrative", "radius_m", "precision",
                      "tier")


def _testimony_row(m: Mapped) -> dict[str, str]:
    row = {c: "" for c in _TESTIMONY_COLUMNS}
    for k, v in m.values.items():
        if k == "location":
            row["lat"], row["lon"] = repr(v[0]), repr(v[1])
        elif k in row:
            row[k] = _as_text(m.props[k], v)
    row["tier"] = m.tier.value
    return row


def import_uwazi(store: StoreLike, path: str | Path, actor: str,
                 mapping: UwaziMapping | None = None, language: str = "en",
                 include_unpublished: bool = False, template: str | None = None,
                 dry_run: bool = False, source: str | None = None) -> UwaziReport:
    """Import an Uwazi CSV (either dialect) or API JSON file: each entity mapped through its
    template to a site or a testimony, stored through the paths every other import uses, with
    a per-row report of the cells used and dropped. Unpublished entities are skipped unless
    `include_unpublished`, and then stored internal-tier."""
    from .run import import_testimonies

    path = Path(path)
    source = source or path.name
    mapping = mapping or load_mapping()
    forced = None
    if template:
        forced = mapping.template(template)
        if forced is None:
            raise InvalidInput(f"--template {template!r}: the mapping {mapping.source} has no "
                               f"such template ({', '.join(t.name for t in mapping.templates)})")
    dialect, encoding, entities = read_entities(path, source)
    report = UwaziReport(source, dialect, encoding, language, dry_run)
    guessed = _guess_template(entities, mapping, dialect)
    sites: list[Site] = []
    testimonies: list[Mapped] = []
    for e in entities:
        t = _pick_template(e, mapping, forced, guessed)
        if t is None:
            rep = RowReport(e.row, _first_title(e, language), e.template, "skipped",
                            Message(N_("template %(name)s is not in the mapping"),
                                    name=repr(e.template)) if e.template
                            else Message(N_("which template? Choose one")))
            for k, by_lang in e.values.items():
                for lang, v in by_lang.items():
                    if not _is_empty(v):
                        rep.drop(e.columns.get((k, lang), k), v, N_("no template to map it by"))
            for c, v, why in e.extra:
                rep.drop(c, v, why)
            report.rows.append(rep)
            continue
        m = map_entity(e, t, dialect, language)
        report.rows.append(m.report)
        if e.published is False and not include_unpublished:
            m.report.status, m.report.reason = "skipped", Message(N_(
                "unpublished in Uwazi (import unpublished entities on request, as internal)"))
            continue
        if e.published is False:
            m.report.notes.append(Message(N_("unpublished in Uwazi: stored internal-tier")))
        if t.target == "sites":
            if not m.values.get("name"):
                m.report.status, m.report.reason = "skipped", Message(N_(
                    "no name (Title is empty)"))
                continue
            sites.append(_site(m))
            m.report.status = "would store" if dry_run else "stored"
        else:
            testimonies.append(m)
    if sites:
        if dry_run:
            report.sites_inserted = len(sites)
        else:
            from ..boundaries import AdminTagger

            tags = AdminTagger(store.boundary_units(1)).tag([s.geometry for s in sites])
            for s, tag in zip(sites, tags, strict=True):
                s.admin1 = tag
            r = store.upsert_sites(sites)
            report.sites_inserted, report.sites_updated = r.inserted, r.updated
            store.audit(actor, "sites.import", source,
                        {"from": "uwazi", "dialect": dialect, "inserted": r.inserted,
                         "updated": r.updated, "keys": [s.key for s in sites][:200]})
    if testimonies:
        report.testimonies = _store_testimonies(store, testimonies, actor, dry_run, source,
                                                import_testimonies)
        report.testimonies.encoding = encoding  # the Uwazi file's, not the go-between's
    return report


def _store_testimonies(store: StoreLike, items: list[Mapped], actor: str, dry_run: bool,
                       source: str, import_testimonies) -> ImportReport:
    """The mapped rows as a CSV of geomap's own columns, through import_testimonies (its
    validation, encryption, quarantine and content keys); its verdicts copied back per row."""
    with tempfile.TemporaryDirectory(prefix="geomap-uwazi-") as d:
        tmp = Path(d) / "uwazi.csv"
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=_TESTIMONY_COLUMNS)
            w.writeheader()
            for m in items:
                w.writerow(_testimony_row(m))
        result = import_testimonies(store, tmp, actor, mapping={c: c for c in
                                                                _TESTIMONY_COLUMNS},
                                    dry_run=dry_run, source=source, threaded=False)
    bad = {p["row"]: p for p in result.problems}
    for i, m in enumerate(items, start=2):  # the CSV's first data row is row 2
        if i in bad:
            m.report.status = "quarantined"
            m.report.problems = bad[i]["problems"]
            m.report.reason = "; ".join(x["message"] for x in bad[i]["problems"])
        else:
            m.report.status = "would store" if dry_run else "stored"
    # the quarantine's row numbers are the temporary file's: say which Uwazi row each was
    for p in result.problems:
        if 2 <= p["row"] < len(items) + 2:
            p["row"] = items[p["row"] - 2].report.row
    return result


__all__ = ["import_uwazi", "load_mapping", "read_entities", "detect_dialect", "map_entity",
           "convert", "UwaziMapping", "UwaziReport", "RowReport", "DEFAULT_MAPPING"]
