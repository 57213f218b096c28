"""SQL of a testimony import (geomap.intake.run): the batch record, the quarantine of bad
rows, which content keys are stored already, and the batch insert of testimonies that
`Store.add_testimonies` runs. Functions taking a Connection run inside the caller's
transaction, so a batch's testimonies, quarantined rows and counts land together."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Float, LargeBinary, Row, func, select, update
from sqlalchemy.exc import IntegrityError

from .schema import import_batches, quarantine, synthetic_truth, testimonies, testimony_violations

if TYPE_CHECKING:
    from ..crypto import FieldCipher
    from ..model import Testimony
    from . import UpsertResult
    from .protocol import StoreLike


def start_batch(store: StoreLike, source: str, actor: str, now: datetime) -> int:
    """A new 'running' batch record for `source`; an earlier one still 'running' (its process
    was killed) becomes 'interrupted' in the same transaction."""
    b = import_batches
    with store.write() as conn:
        conn.execute(update(b).where(b.c.status == "running", b.c.source == source)
                     .values(status="interrupted"))
        return conn.execute(b.insert().values(
            kind="testimonies", source=source, started_at=now, inserted=0, updated=0,
            skipped=0, status="running", actor=actor)).inserted_primary_key[0]


def end_batch(store: StoreLike, batch_id: int, status: str, finished_at: datetime,
              report: str) -> None:
    """Close a batch record: its status ('done', 'failed', 'interrupted') and report (JSON)."""
    with store.write() as conn:
        conn.execute(update(import_batches).where(import_batches.c.id == batch_id)
                     .values(status=status, finished_at=finished_at, report=report))


# SQLite's default page cache (2 MiB) is far smaller than the testimonies table's indexes
# (the unique content key, period, stats, the two point indexes): a bulk insert then re-reads
# index pages from the OS for every row. A bounded 16 MiB cache on the writer connection made inserting
# 100,000 testimonies ~15 % faster (4.6 -> 4.0 s); 64 MiB bought little more.
BULK_CACHE_KIB = 16_384


def prepare_bulk_write(conn: Connection) -> None:
    """Tune the connection of an import batch's transaction (SQLite only; a no-op elsewhere)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")


# an insert of this many rows refreshes the planner's statistics of the tables it grew
ANALYZE_ROWS = 1_000


def refresh_statistics(store: StoreLike) -> None:
    """The query planner's statistics of testimonies and the tables that follow them, after a
    bulk insert: PostgreSQL plans the next viewport query on what it last sampled (a first
    view after loading 100,000 rows took 128 ms before autovacuum caught up, 7 ms after);
    SQLite's `PRAGMA optimize` analyses the tables whose sizes changed enough."""
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE testimonies, testimony_cells, testimony_violations")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA optimize")


def add_counts(conn: Connection, batch_id: int, inserted: int, skipped: int,
               updated: int) -> None:
    """Add one batch's counts to the batch record (in the batch's transaction)."""
    b = import_batches
    conn.execute(update(b).where(b.c.id == batch_id).values(
        inserted=b.c.inserted + inserted, skipped=b.c.skipped + skipped,
        updated=b.c.updated + updated))


def existing_testimony_keys(store: StoreLike, keys: Sequence[str]) -> set[str]:
    """Which of these content keys are stored already."""
    with store.read() as conn:
        return _stored_keys(conn, keys)


def _stored_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    """The keys among `keys` that testimonies hold: one statement for all of them on SQLite
    (a JSON array bound once) and PostgreSQL (an array), elsewhere _CHUNK keys a query."""
    out: set[str] = set()
    if conn.dialect.name == "sqlite":
        if keys:
            out.update(conn.exec_driver_sql(
                "SELECT key FROM testimonies WHERE key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),)).scalars())
        return out
    if conn.dialect.name == "postgresql":  # one array parameter, not a parameter a key
        if keys:
            out.update(conn.exec_driver_sql(
                "SELECT key FROM testimonies WHERE key = ANY(%(keys)s)",
                {"keys": list(keys)}).scalars())
        return out
    for i in range(0, len(keys), _CHUNK):
        out.update(conn.execute(select(testimonies.c.key)
                                .where(testimonies.c.key.in_(keys[i:i + _CHUNK]))).scalars())
    return out


def insert_quarantine(conn: Connection, rows: list[dict]) -> int:
    """Insert quarantine rows whose key is new; returns how many were new."""
    keys = [r["key"] for r in rows]
    existing = set(conn.execute(select(quarantine.c.key).where(quarantine.c.key.in_(keys)))
                   .scalars())
    fresh = [r for r in rows if r["key"] not in existing]
    if fresh:
        conn.execute(quarantine.insert(), fresh)
    return len(fresh)


def quarantine_records(store: StoreLike, source: str | None = None) -> list[Row]:
    """Quarantined rows (still encrypted) by source and row number."""
    q = select(quarantine).order_by(quarantine.c.source, quarantine.c.row_number)
    if source:
        q = q.where(quarantine.c.source == source)
    with store.read() as conn:
        return conn.execute(q).all()


# -- inserting testimonies -----------------------------------------------------------------
# The columns a new testimony sets, in the table's order (geocode_note stays NULL; a new
# testimony's location is the one reported).
_COLUMNS = ("key", "witness_enc", "witness_ref", "interview_date", "narrative_enc",
            "place_text", "geom", "radius_m", "precision", "period_text", "period_start",
            "period_end", "relationship", "violations", "tier", "synthetic", "admin1_id",
            "admin1_outside", "admin1_distance_m", "location_source", "minx", "miny", "maxx",
            "maxy")
_CHUNK = 500  # keys per IN (...) list; stays under SQLite's variable limit
# From this many rows a batch on SQLite fills the viewport grid's cells in one statement
# instead of through their per-row insert trigger (with the R*Tree's trigger, which 0018
# dropped, inserting 100,000 testimonies took 4.7-7.5 CPU s, without both 3.0); fewer rows
# are not worth the schema change (dropping and re-creating the trigger inside the batch's
# transaction).
BULK_TRIGGER_ROWS = 1_000
ROWS_PER_STATEMENT = 500  # x 25 parameters: under SQLite's smallest default limit (32,766)
CELLS_TRIGGER = "testimony_cells_ins"
BULK_TRIGGERS = (CELLS_TRIGGER,)


def testimony_rows(cipher: FieldCipher, items: Sequence[Testimony]) -> list[tuple]:
    """The column values (`_COLUMNS` order, Python values) of testimonies with their keys set:
    witness codes and narratives encrypted under each record's key, the witness's keyed
    index, the geometry's WKB and bounds."""
    from . import geoms_columns

    keys = [t.key for t in items]
    codes = [t.witness_code for t in items]
    witness_enc = cipher.encrypt_many(codes, "testimonies", keys, "witness_code")
    narrative_enc = cipher.encrypt_many([t.narrative for t in items], "testimonies", keys,
                                        "narrative")
    refs: dict[str, str] = {}  # one witness gives several testimonies: one HMAC each
    for c in codes:
        if c not in refs:
            refs[c] = cipher.blind_index(c, "witness")
    geoms = geoms_columns([t.geometry for t in items])
    out = []
    for t, we, ne, g in zip(items, witness_enc, narrative_enc, geoms, strict=True):
        p, a = t.period, t.admin1
        out.append((
            t.key, we, refs[t.witness_code], t.interview_date, ne, t.place_text, g["geom"],
            t.radius_m, str(t.precision) if t.precision else None,
            p.text if p else None, p.earliest if p else None, p.latest if p else None,
            str(t.relationship) if t.relationship else None,
            _violations_text(t.violations), str(t.tier), t.synthetic,
            a.unit_id if a else None, bool(a and a.outside), a.distance_m if a else None,
            "reported", g["minx"], g["miny"], g["maxx"], g["maxy"]))
    return out


_TEXTS: dict[tuple, str] = {}  # a file repeats a few combinations of violations


def _violations_text(violations: Sequence) -> str:
    """The `violations` column: the distinct codes, sorted, joined by commas."""
    key = tuple(violations)
    text = _TEXTS.get(key)
    if text is None:
        text = ",".join(sorted({str(v) for v in violations}))
        if text and not _CODES.fullmatch(text):  # the bulk insert splits it on commas
            raise ValueError(f"not violation codes: {text!r}")
        if len(_TEXTS) > 4096:
            _TEXTS.clear()
        _TEXTS[key] = text
    return text


@dataclass
class Prepared:
    """Testimonies (keys set) with their column values, ready for `insert_prepared`: the
    encryption and the rest of the Python work of an insert, done before its transaction.
    On SQLite `statements` holds the rows already laid out as the INSERT statements'
    parameters (built on the thread that prepares, not the one holding the write lock)."""

    items: list[Testimony]
    rows: list[tuple]
    statements: list[tuple] | None = None


def prepare_testimonies(cipher: FieldCipher, dialect: str, items: Sequence[Testimony]
                        ) -> Prepared:
    """`items` encrypted and laid out as columns (on SQLite, as the driver takes them)."""
    for t in items:
        t.key = t.key or cipher.blind_index(t.content_payload(), "testimony")
    rows = testimony_rows(cipher, items)
    if dialect != "sqlite" or not rows:
        return Prepared(list(items), rows)
    rows = _bind(rows)
    return Prepared(list(items), rows, _statement_params(rows))


def insert_prepared(conn: Connection, prepared: Prepared, cells: DeferredCells | None = None
                    ) -> UpsertResult:
    """Insert the prepared testimonies whose key is new (checked in this transaction);
    `cells`: their grid cells are added by its `finish`, with the rest of the transaction's."""
    from . import UpsertResult

    if cells is not None:
        cells.start()
    if conn.dialect.name == "postgresql" and prepared.items:
        # new keys, as a rule: COPY them all, under a savepoint; a key stored meanwhile
        # (the unique index refuses the chunk) takes the checked path below instead
        try:
            with conn.begin_nested():
                _write(conn, prepared.items, prepared.rows, cells)
            return UpsertResult(len(prepared.items), 0, 0)
        except (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError):
            pass
    new = _fresh(conn, [t.key for t in prepared.items])
    if len(new) == len(prepared.items) and prepared.statements is not None:
        _insert_sqlite(conn, prepared.items, prepared.rows, prepared.statements, cells)
    elif new:
        _write(conn, [prepared.items[i] for i in new], [prepared.rows[i] for i in new], cells)
    return UpsertResult(len(new), 0, len(prepared.items) - len(new))


class DeferredCells:
    """A transaction's viewport-grid cells added once, before it commits, instead of with
    each insert: the per-row insert trigger stays off for the transaction (SQLite: dropped,
    and re-created by `finish`; PostgreSQL: switched off, migration 0019), and `finish` adds
    the cells of every row inserted through it in one grouped statement (an import's batch:
    fewer, larger upserts than chunk by chunk). Every testimony insert of the transaction
    must go through it (`insert_prepared`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.span: tuple[int, int] | None = None  # ids inserted: first, last
        self._bypass: dict[str, str] | None = None  # SQLite: the triggers dropped

    def start(self) -> None:
        """Turn the per-row trigger off for the rest of the transaction (once)."""
        if self._bypass is not None:
            return
        if self.conn.dialect.name == "sqlite":
            self._bypass = _bypassed_triggers(self.conn)
            for name in self._bypass:
                self.conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            self._bypass = {}
            self.conn.exec_driver_sql(f"SET LOCAL {CELLS_SWITCH} = 'on'")

    def cover(self, first: int, last: int) -> None:
        """Rows first..last were inserted with the trigger off."""
        self.start()
        lo = first if self.span is None else min(self.span[0], first)
        self.span = (lo, max(last, self.span[1] if self.span else last))

    def finish(self) -> None:
        """The cells of the rows inserted, and the trigger on again."""
        if self._bypass is None:
            return
        if self.conn.dialect.name == "sqlite":
            if self.span is not None:
                _do_and_restore(self.conn, self.span[0], self._bypass)
            else:
                for create in self._bypass.values():
                    self.conn.exec_driver_sql(create)
        else:
            if self.span is not None:
                self.conn.exec_driver_sql(_PG_CELLS_SQL.format(levels=_levels()),
                                          {"lo": self.span[0], "hi": self.span[1]})
            self.conn.exec_driver_sql(f"SET LOCAL {CELLS_SWITCH} = 'off'")
        self._bypass, self.span = None, None


def insert_testimonies(conn: Connection, cipher: FieldCipher, items: Sequence[Testimony],
                       truth: Sequence[tuple[int | None, str]] | None = None) -> UpsertResult:
    """Insert testimonies whose content key is new (existing keys and repeats are skipped),
    with their violation rows and, for synthetic data, their ground truth; sets each new
    item's `id`. On SQLite straight to the driver, several rows a statement, with the values
    SQLAlchemy's column types would bind and the ids numbered here (the next free rowids,
    what SQLite would choose: the batch holds the write lock); elsewhere through SQLAlchemy."""
    from . import UpsertResult

    for t in items:
        t.key = t.key or cipher.blind_index(t.content_payload(), "testimony")
    new = _fresh(conn, [t.key for t in items])
    if not new:
        return UpsertResult(0, 0, len(items))
    fresh = [items[i] for i in new]
    _write(conn, fresh, prepare_testimonies(cipher, conn.dialect.name, fresh).rows)
    if truth is not None:
        conn.execute(synthetic_truth.insert(), [
            {"testimony_id": items[i].id, "site_id": truth[i][0], "kind": truth[i][1]}
            for i in new])
    return UpsertResult(len(new), 0, len(items) - len(new))


def _fresh(conn: Connection, keys: list[str]) -> list[int]:
    """Indexes of the keys not stored yet, each key's first occurrence only."""
    existing = _stored_keys(conn, keys)
    out = []
    for i, k in enumerate(keys):
        if k not in existing:
            existing.add(k)
            out.append(i)
    return out


def _write(conn: Connection, fresh: list[Testimony], rows: list[tuple],
           cells: DeferredCells | None = None) -> None:
    if conn.dialect.name == "sqlite":
        _insert_sqlite(conn, fresh, rows, None, cells)
    elif conn.dialect.name == "postgresql" and (cells is not None or len(rows) >= PG_COPY_ROWS):
        _copy_postgres(conn, fresh, rows, cells)
    elif cells is not None:
        raise ValueError(f"deferred grid cells: not on {conn.dialect.name}")
    else:
        _insert_rows(conn, fresh, rows)


def _insert_rows(conn: Connection, fresh: list[Testimony], rows: list[tuple]) -> None:
    """Insert through SQLAlchemy (any backend; its triggers keep the cells)."""
    conn.execute(testimonies.insert(), [dict(zip(_COLUMNS, r, strict=True)) for r in rows])
    ids: dict[str, int] = {}
    for i in range(0, len(fresh), _CHUNK):
        # pairs, not the Result: dict.update would take its .keys() for a mapping's
        ids.update((k, tid) for k, tid in conn.execute(
            select(testimonies.c.key, testimonies.c.id)
            .where(testimonies.c.key.in_([t.key for t in fresh[i:i + _CHUNK]]))))
    for t in fresh:
        t.id = ids[t.key]
    viol = [{"testimony_id": t.id, "violation": str(v)}
            for t in fresh for v in dict.fromkeys(t.violations)]
    if viol:
        conn.execute(testimony_violations.insert(), viol)


# migration 0019: the per-row cells trigger on insert is off while a transaction sets this on
CELLS_SWITCH = "geomap.bulk_cells"
# from this many rows PostgreSQL gets COPY and one cells statement: its per-row trigger costs
# ~0.5 ms a row, the bulk path a few statements
PG_COPY_ROWS = 50


def _copy_postgres(conn: Connection, fresh: list[Testimony], rows: list[tuple],
                   cells: DeferredCells | None = None) -> None:
    """A large insert on PostgreSQL: a block of ids taken from the table's sequence (file
    order), the rows sent with COPY, then their grid cells and violation rows added by one
    statement each (the per-row cells trigger switched off meanwhile, for this transaction
    only)."""
    # a block of the sequence: every geomap write transaction holds the write lock
    # (geomap.store.engine), so no other one takes numbers meanwhile; a writer from outside
    # that did would make this COPY fail on the primary key, never store a row twice
    first = conn.exec_driver_sql(
        "SELECT setval(s, nextval(s) + %(n)s - 1) - %(n)s + 1 "
        "FROM pg_get_serial_sequence('testimonies', 'id') AS s", {"n": len(rows)}).scalar()
    ids = list(range(first, first + len(rows)))
    if cells is None:
        conn.exec_driver_sql(f"SET LOCAL {CELLS_SWITCH} = 'on'")
    else:
        cells.cover(ids[0], ids[-1])
    columns = ", ".join(f'"{c}"' for c in ("id", *_COLUMNS))
    types = _pg_column_types(conn)
    # binary: the server parses no text (bytea in hex, floats, dates)
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(
            f"COPY testimonies ({columns}) FROM STDIN (FORMAT BINARY)") as copy:  # noqa: S608
        copy.set_types([types[c] for c in ("id", *_COLUMNS)])
        for tid, row in zip(ids, rows, strict=True):
            copy.write_row((tid, *row))
    # (a failure above aborts the transaction, and the rollback undoes the switch)
    span = {"lo": ids[0], "hi": ids[-1]}
    if cells is None:
        conn.exec_driver_sql(_PG_CELLS_SQL.format(levels=_levels()), span)
        conn.exec_driver_sql(f"SET LOCAL {CELLS_SWITCH} = 'off'")
    conn.exec_driver_sql(
        "INSERT INTO testimony_violations (testimony_id, violation) "
        "SELECT t.id, v FROM testimonies AS t, unnest(string_to_array(t.violations, ',')) AS v "
        "WHERE t.id BETWEEN %(lo)s AND %(hi)s AND t.violations <> ''", span)
    for t, tid in zip(fresh, ids, strict=True):
        t.id = tid


_PG_TYPES: dict[str, str] = {}


def _pg_column_types(conn: Connection) -> dict[str, str]:
    """testimonies' column -> its PostgreSQL type name (for a binary COPY), read once."""
    if not _PG_TYPES:
        _PG_TYPES.update(conn.exec_driver_sql(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_name = 'testimonies' AND table_schema = current_schema()").all())
    return _PG_TYPES


# the cells trigger's work (migration 0013, PostgreSQL) for the rows of an id range at once
_PG_CELLS_SQL = (
    "INSERT INTO testimony_cells AS c (level, tier, cx, cy, n, sx, sy) "  # noqa: S608 - constants
    "SELECT l.column1, t.tier, CAST(floor((t.minx + 180.0) * l.column2) AS INTEGER), "
    "CAST(floor((t.miny + 90.0) * l.column2) AS INTEGER), count(*), sum(t.minx), sum(t.miny) "
    "FROM testimonies AS t CROSS JOIN (VALUES {levels}) AS l "
    "WHERE t.id BETWEEN %(lo)s AND %(hi)s AND t.minx IS NOT NULL GROUP BY 1, 2, 3, 4 "
    "ON CONFLICT (level, tier, cx, cy) DO UPDATE SET "
    "n = c.n + excluded.n, sx = c.sx + excluded.sx, sy = c.sy + excluded.sy")


_BIND: tuple[str, list] | None = None


def _binders() -> tuple[str, list]:
    """SQLite's INSERT of _COLUMNS with positional parameters (the id is left to SQLite: the
    next rowid, in order), and per column the bind processor of its SQLAlchemy type (None
    when the value goes to the driver as it is): dates become the text SQLAlchemy stores,
    flags 0/1."""
    global _BIND
    if _BIND is None:
        from sqlalchemy.dialects.sqlite import pysqlite

        d = pysqlite.dialect()
        c = testimonies.insert().compile(dialect=d, column_keys=list(_COLUMNS))
        if tuple(c.positiontup) != _COLUMNS:
            raise RuntimeError("testimonies: _COLUMNS is not in the table's column order")
        # bytes and floats (all these columns' values are) bind as they are: the processors
        # would wrap bytes in memoryview and call float() on floats, the same stored values
        _BIND = (str(c), [
            None if isinstance(testimonies.c[n].type, LargeBinary | Float)
            else testimonies.c[n].type.dialect_impl(d).bind_processor(d) for n in _COLUMNS])
    return _BIND


def _bind(rows: list[tuple]) -> list[tuple]:
    """Rows of Python values as SQLite's driver takes them."""
    cols = list(zip(*rows, strict=True))
    for i, p in enumerate(_binders()[1]):
        if p is not None:  # column by column; a column's values repeat (dates, flags)
            done: dict = {None: None}
            cols[i] = [done[v] if v in done else done.setdefault(v, p(v)) for v in cols[i]]
    return list(zip(*cols, strict=True))


def _statement_params(rows: list[tuple]) -> list[tuple]:
    """Bound rows as the parameters of the INSERT statements: ROWS_PER_STATEMENT rows each,
    the rest in statements of 256, 128, ... 1 rows. The driver keeps each distinct statement
    it has prepared (a 500-row INSERT is ~1 MB of SQLite's memory): with one statement per
    size of remainder, that memory grew with the number of chunks an import had."""
    sizes, left = [], len(rows)
    sizes += [ROWS_PER_STATEMENT] * (left // ROWS_PER_STATEMENT)
    left %= ROWS_PER_STATEMENT
    bit = 1 << (ROWS_PER_STATEMENT.bit_length() - 1)
    while left:
        if left >= bit:
            sizes.append(bit)
            left -= bit
        bit >>= 1
    out, at = [], 0
    for n in sizes:
        out.append(tuple(chain.from_iterable(rows[at:at + n])))
        at += n
    return out


def _insert_sqlite(conn: Connection, fresh: Sequence[Testimony], rows: list[tuple],
                   statements: list[tuple] | None = None,
                   cells: DeferredCells | None = None) -> None:
    """Insert bound rows (`_bind`) of `fresh` (`statements`: the same rows laid out by
    `_statement_params`); SQLite numbers them from the next free rowid."""
    sql = _binders()[0]
    statements = _statement_params(rows) if statements is None else statements
    first = (conn.execute(select(func.max(testimonies.c.id))).scalar() or 0) + 1
    if cells is not None:  # the transaction's cells come later, all at once
        cells.cover(first, first + len(rows) - 1)
    # triggers whose per-row work a large batch does in one statement per trigger, after
    # its rows are in: dropped and re-created inside this transaction, so other connections
    # see the table, its indexes and triggers as before, or all of the batch
    bypass = _bypassed_triggers(conn) if len(rows) >= BULK_TRIGGER_ROWS and cells is None \
        else {}
    for name in bypass:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        # several rows a statement: SQLite does a statement's index and table work without
        # holding Python's interpreter lock (executemany takes it back after every row), so
        # a batch stored on a second thread runs beside the next batch's validation
        head, _, one = sql.partition(" VALUES ")
        width = len(_COLUMNS)
        for params in statements:
            conn.exec_driver_sql(head + " VALUES " + ", ".join([one] * (len(params) // width)),
                                 params)
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
        if last != first + len(rows) - 1:  # rowids are max + 1 while the batch holds the lock
            raise RuntimeError(f"testimonies: rows numbered {first}..{last}, not "
                               f"{first}..{first + len(rows) - 1}")
    except BaseException:
        try:  # whatever was inserted is indexed and the triggers are back, even so
            _do_and_restore(conn, first, bypass)
        except Exception:  # noqa: BLE001 - the transaction rolls back; report the first error
            pass
        raise
    _do_and_restore(conn, first, bypass)
    for n, t in enumerate(fresh):
        t.id = first + n
    # each testimony's violation rows, from its `violations` column ("forced_labour,torture":
    # codes, checked by testimony_rows) split by SQLite: no Python tuple or parameter a row
    conn.exec_driver_sql(_VIOLATION_ROWS_SQL, (first,))


# the column's codes as a JSON array, one row each (codes hold no quote, comma or backslash)
_VIOLATION_ROWS_SQL = (
    "INSERT INTO testimony_violations (testimony_id, violation) SELECT t.id, v.value "
    "FROM testimonies AS t, json_each('[\"' || replace(t.violations, ',', '\",\"') || '\"]') "
    "AS v WHERE t.id >= ? AND t.violations <> ''")
_CODES = re.compile(r"[a-z0-9_]+(?:,[a-z0-9_]+)*")


def _do_and_restore(conn: Connection, first: int, bypass: dict[str, str]) -> None:
    """Each bypassed trigger's work for the rows from id `first`, then the trigger again."""
    for name, create in bypass.items():
        conn.exec_driver_sql(_bulk_sql(name), (first,))
        conn.exec_driver_sql(create)


def _norm(sql: str) -> str:
    return " ".join(sql.split())


def _trigger_sql(name: str) -> str:
    """The AFTER INSERT trigger `name` as its migration creates it (whitespace aside)."""
    # migration 0013: a testimony counted in its cell of every level of the grid
    return ("CREATE TRIGGER testimony_cells_ins AFTER INSERT ON testimonies WHEN new.minx IS "  # noqa: S608 - the ladder's constants
            "NOT NULL BEGIN INSERT INTO testimony_cells (level, tier, cx, cy, n, sx, sy) SELECT "
            "l.column1, new.tier, CAST((new.minx + 180.0) * l.column2 AS INTEGER), "
            "CAST((new.miny + 90.0) * l.column2 AS INTEGER), +1, +new.minx, +new.miny FROM "
            f"(VALUES {_levels()}) AS l WHERE new.minx IS NOT NULL ON CONFLICT (level, tier, cx, "
            "cy) DO UPDATE SET n = n + excluded.n, sx = sx + excluded.sx, sy = sy + excluded.sy; "
            "END")


def _bulk_sql(name: str) -> str:
    """What trigger `name` does for every row with id >= ?, in one statement."""
    # the rows' counts and coordinate sums per cell, added to the stored ones
    return ("INSERT INTO testimony_cells (level, tier, cx, cy, n, sx, sy) "  # noqa: S608 - constants
            "SELECT l.column1, t.tier, CAST((t.minx + 180.0) * l.column2 AS INTEGER), "
            "CAST((t.miny + 90.0) * l.column2 AS INTEGER), count(*), sum(t.minx), sum(t.miny) "
            f"FROM testimonies AS t CROSS JOIN (VALUES {_levels()}) AS l "
            "WHERE t.id >= ? AND t.minx IS NOT NULL GROUP BY 1, 2, 3, 4 "
            "ON CONFLICT (level, tier, cx, cy) DO UPDATE SET "
            "n = n + excluded.n, sx = sx + excluded.sx, sy = sy + excluded.sy")


def _levels() -> str:
    from .viewport import LEVELS

    return ", ".join(f"({lv}, {2.0 ** lv!r})" for lv in LEVELS)


def _bypassed_triggers(conn: Connection) -> dict[str, str]:
    """name -> CREATE statement of the insert triggers on testimonies a large batch does the
    work of itself: only those whose definition is exactly the one known here (a trigger
    changed by a later migration keeps doing its work row by row: slower, never wrong)."""
    found = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
        "tbl_name = 'testimonies' AND name IN (?)", BULK_TRIGGERS).all()
    return {name: sql for name, sql in found if _norm(sql) == _norm(_trigger_sql(name))}
