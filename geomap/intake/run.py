"""One import: read, validate, store good rows and quarantine bad ones, in batches.

Every batch is one transaction (testimonies, their violations, quarantined rows and the batch
record's counts together), so a process killed mid-import leaves whole batches only; content
keys make a re-run skip what landed, so the import completes exactly once. A batch is checked,
prepared and inserted a chunk at a time, so memory holds a chunk's rows, not a batch's.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from ..boundaries import AdminTagger
from ..store import UpsertResult
from ..store import intake as sql
from . import BATCH_ROWS
from .mapping import require_columns
from .readers import read_rows
from .validate import Checked, Validator, resolve_columns

if TYPE_CHECKING:
    from ..store.protocol import Connection, StoreLike

REPORT_ROWS = 500  # problems listed in a report (all are kept in the quarantine)
# rows checked, prepared and inserted together (at most a batch): what memory holds at a time,
# and the unit the two threads of an import hand over
CHUNK_ROWS = 5_000
# the first chunk and the file's last rows go in chunks this small: the storing thread waits
# for the first chunk, and the checking thread for the last one to be stored
EDGE_ROWS = 1_000


class ImportKeys(Sequence):
    """The content keys of an import's valid rows, in file order (a sequence of str), and the
    row each first appeared on, for the duplicate check. Held in flat arrays, not as a Python
    string each: a file's keys, each allocated among a batch's short-lived objects and
    outliving them, kept that memory from being reused (peak RSS grew with the file)."""

    def __init__(self) -> None:
        # file order, a chunk's array each (joined once read: no copy of them all per chunk)
        self._parts: list[np.ndarray] = []
        self._n = 0
        self._sorted = np.empty(0, dtype="S32")  # hex keys are ASCII: 32 bytes each
        self._rows = np.empty(0, dtype=np.int64)  # row of each key of _sorted

    def first_rows(self, keys: list[str]) -> list[int]:
        """For each key, the row it first appeared on in the chunks added so far (-1: new)."""
        if not len(self._sorted) or not keys:
            return [-1] * len(keys)
        q = np.array(keys, dtype="S32")
        at = np.minimum(np.searchsorted(self._sorted, q), len(self._sorted) - 1)
        return np.where(self._sorted[at] == q, self._rows[at], -1).tolist()

    def add(self, first: dict[str, int]) -> None:
        """A chunk's new keys (in file order, none added before) with their rows: merged into
        the sorted keys (one copy of them, not a sort of them all per chunk)."""
        if not first:
            return
        keys = np.array(list(first), dtype="S32")
        self._parts.append(keys)
        self._n += len(keys)
        order = np.argsort(keys)
        keys = keys[order]
        rows = np.fromiter(first.values(), np.int64, len(first))[order]
        at = np.searchsorted(self._sorted, keys)
        self._sorted = np.insert(self._sorted, at, keys)
        self._rows = np.insert(self._rows, at, rows)

    def _order(self) -> np.ndarray:
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts) if self._parts
                           else np.empty(0, dtype="S32")]
        return self._parts[0]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [k.decode("ascii") for k in self._order()[i].tolist()]
        return self._order()[i].decode("ascii")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    rows: int = 0
    valid: int = 0
    inserted: int = 0
    already_present: int = 0
    quarantined: int = 0
    quarantined_before: int = 0
    reasons: Counter = field(default_factory=Counter)
    problems: list[dict] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)
    columns: dict[str, str] = field(default_factory=dict)
    batch_id: int | None = None
    blank_rows: int = 0
    boundaries_checked: bool = True  # False on an instance with no country boundaries loaded
    encoding: str | None = None  # of a text file (None for XLSX)
    # content keys of this file's valid testimonies: what "this import" means to later steps
    keys: ImportKeys = field(default_factory=ImportKeys, repr=False)

    def as_dict(self) -> dict:
        return {"source": self.source, "dry_run": self.dry_run, "encoding": self.encoding,
                "rows": self.rows, "blank_rows": self.blank_rows,
                "boundaries_checked": self.boundaries_checked,
                "valid": self.valid, "inserted": self.inserted,
                "already_present": self.already_present, "quarantined": self.quarantined,
                "quarantined_before": self.quarantined_before, "reasons": dict(self.reasons),
                "notes": dict(self.notes), "columns": self.columns, "batch_id": self.batch_id,
                "problems": self.problems}

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        out = [f"{self.source}: {self.rows} rows; {verb} {self.inserted}, "
               f"{self.already_present} already present, {self.quarantined} quarantined"
               + (f" ({self.quarantined_before} of them already in quarantine)"
                  if self.quarantined_before else "")
               + (f", {self.blank_rows} blank rows skipped" if self.blank_rows else "")]
        if self.encoding:
            out.append(f"  encoding: {self.encoding}")
        out += [f"  {n} x {code}" for code, n in self.reasons.most_common()]
        out += [f"  note: {n} x {note}" for note, n in self.notes.most_common()]
        for p in self.problems[:50]:
            out.append(f"  row {p['row']}: " + "; ".join(x["message"] for x in p["problems"]))
        if len(self.problems) > 50:
            out.append(f"  ... {len(self.problems) - 50} more rows in the quarantine")
        return out


def _header(rows: Iterable[tuple[int, dict]]) -> tuple[list[str], list[tuple[int, dict]]]:
    """Peek at the first rows for their columns (GeoJSON/KML rows may differ: take the union)."""
    it = iter(rows)
    head, cols = [], {}
    for _ in range(50):
        try:
            n, r = next(it)
        except StopIteration:
            break
        head.append((n, r))
        cols.update(dict.fromkeys(r))
    return list(cols), _chain(head, it)


def _chain(head, it):
    yield from head
    yield from it


def import_testimonies(
    store: StoreLike,
    path: str | Path,
    actor: str,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    border_km: float = 50.0,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
    threaded: bool = True,
) -> ImportReport:
    """Import a file of testimonies (CSV, XLSX, GeoJSON, KML, KMZ): valid rows stored, each
    batch of `batch_rows` in one transaction, bad rows quarantined with their problems.
    `threaded`: store a batch while the next is checked (the same result, sooner)."""
    path = Path(path)
    source = source or path.name
    rows = read_rows(path, name=source)
    # read the whole file once before writing anything: a file the readers refuse (broken
    # archive, undecodable text, bad structure) is refused with nothing stored
    last_row = rows.scan()
    header, head_rows = _header(rows)
    columns = resolve_columns(header, mapping)
    require_columns(header, columns)  # unmapped required fields: stop before writing anything
    units0, units1 = store.boundary_units(0), store.boundary_units(1)
    country = shapely.union_all([u.geometry for u in units0 or units1]) if units0 or units1 \
        else None
    validator = Validator(country, columns, border_km=border_km)
    tagger = AdminTagger(units1)
    report = ImportReport(source=source, dry_run=dry_run, columns=columns,
                          encoding=rows.encoding)
    if rows.sheet:
        report.notes[f"read the sheet {rows.sheet!r}, the one whose columns were recognised"] \
            += 1
    if rows.header_row:
        report.notes[f"the header is on row {rows.header_row}: the title rows above it were "
                     "skipped"] += 1
    if country is None:
        report.boundaries_checked = False
        report.notes[NO_BOUNDARIES] += 1
    occurrences: Counter = Counter()  # identical bad rows in one file are kept apart
    if not dry_run:
        report.batch_id = _start_batch(store, source, actor)
    pending: list[tuple[int, dict]] = []
    chunk_rows = max(1, min(batch_rows, CHUNK_ROWS))
    edge_rows = min(chunk_rows, EDGE_ROWS)
    sent = [0, 0]  # chunks sent; rows sent into the open batch (a chunk never crosses one)
    look_up = [True]  # whether chunks ask which of their rows are stored already
    batches = _Batches(store, report, dry_run, occurrences, batch_rows)
    # a chunk is stored on a second thread while the next one is checked: SQLite and GEOS
    # work without the interpreter lock, so the two overlap on a second core. One chunk in
    # flight at a time, in file order; its error is raised here, before the next is sent.
    writer = ThreadPoolExecutor(1, thread_name_prefix="geomap-import") if threaded else None
    in_flight: list[tuple[Future, int]] = []

    def on_writer(fn, *args):
        """Run fn on the thread that holds the batch's connection; its result."""
        return fn(*args) if writer is None else writer.submit(fn, *args).result()

    def settle():
        if in_flight:
            future, n = in_flight[0]
            try:
                future.result()
            finally:  # interrupted while waiting: still in flight for the handler below
                if future.done():
                    in_flight.pop()
            if progress:
                progress(n)

    def flush():
        if not pending:
            return
        checked = _check_many(validator, pending)
        index = store.cipher.blind_index
        valid = [c for c in checked if c.testimony is not None]
        for c in valid:
            c.testimony.key = index(c.testimony.content_payload(), "testimony")
        earlier = report.keys.first_rows([c.testimony.key for c in valid])
        first: dict[str, int] = {}  # this chunk's new keys, in file order
        for c, row in zip(valid, earlier, strict=True):
            key = c.testimony.key
            row = row if row >= 0 else first.get(key, -1)
            if row >= 0:  # a repeat of a row of this file
                c.problems.append(_dup(row))
                c.testimony = None
            else:
                first[key] = c.row_number
        report.keys.add(first)
        for c in checked:
            for note in c.notes:
                report.notes[note] += 1
        pending.clear()
        sent[0] += 1
        sent[1] = (sent[1] + len(checked)) % batch_rows
        chunk = _prepare_chunk(store, checked, report, tagger, dry_run, look_up[0])
        # a chunk none of whose rows were stored before: the rest of the file is new too, as
        # a rule (a re-run of an interrupted import finds its stored rows first), so stop
        # asking; a row stored after all is still skipped by its batch's transaction
        look_up[0] = look_up[0] and (chunk.known > 0 or not chunk.good)
        if writer is None:
            batches.write(chunk)
            if progress:
                progress(len(checked))
            return
        settle()
        in_flight.append((writer.submit(batches.write, chunk), len(checked)))

    try:
        for n, raw in head_rows:
            report.rows += 1
            # every value blank (one join, not a generator a row)
            if not "".join(map(str, raw.values())).strip():
                report.blank_rows += 1  # Excel's trailing blank rows: no verdict needed
                continue
            pending.append((n, raw))
            if len(pending) >= min(chunk_rows if sent[0] else edge_rows, batch_rows - sent[1]) \
                    or (last_row - n == edge_rows and threaded):  # the last rows apart
                flush()
        flush()
        settle()
        on_writer(batches.commit)
        if not dry_run:
            _finish_batch(store, report)
            if report.inserted >= sql.ANALYZE_ROWS:
                sql.refresh_statistics(store)
    except BaseException as e:
        if in_flight:  # the chunk being stored ends first (its failure rolls its batch back)
            with contextlib.suppress(BaseException):
                in_flight[0][0].result()
        # a batch still open is rolled back whole, before the batch record (another write
        # transaction) is marked
        with contextlib.suppress(BaseException):
            on_writer(batches.abort, e)
        if not dry_run:  # never leave the batch "running": say how it ended
            _fail_batch(store, report, e)
        raise
    finally:
        if writer is not None:
            writer.shutdown()
    if not dry_run:
        store.audit(actor, "testimonies.import", source,
                    {k: v for k, v in report.as_dict().items()
                     if k in ("rows", "inserted", "already_present", "quarantined", "batch_id")})
    return report


NO_BOUNDARIES = ("no country boundaries are loaded: the near-North-Korea check and province "
                 "tagging were skipped (load them with `geomap init`)")


def _check_many(validator: Validator, rows: list[tuple[int, dict]]) -> list[Checked]:
    """The rows' verdicts, checked together; when that fails, row by row, so only a row the
    validator cannot handle is quarantined as unreadable (never a crash)."""
    try:
        return validator.check_many(rows)
    except Exception:  # noqa: BLE001 - find the row: each one alone
        return [_check(validator, n, raw) for n, raw in rows]


def _check(validator: Validator, n: int, raw: dict) -> Checked:
    """A row's verdict; a row the validator cannot handle is quarantined, never a crash."""
    from .validate import Problem

    try:
        return validator.check(n, raw)
    except Exception as e:
        from ..messages import N_, Message

        msg = f"{type(e).__name__}: {e}"
        return Checked(n, raw, problems=[Problem("unreadable_row", None, Message(
            N_("this row could not be checked (%(error)s)"), error=msg[:200]))])


def _fail_batch(store: StoreLike, report: ImportReport, e: BaseException) -> None:
    status = "failed" if isinstance(e, Exception) else "interrupted"
    try:
        sql.end_batch(store, report.batch_id, status, datetime.now(UTC).replace(tzinfo=None),
                      json.dumps({"error": f"{type(e).__name__}: {e}"[:500]},
                                 ensure_ascii=False))
    except Exception:  # the original error is the one to report
        pass


def _dup(first_row: int):
    from ..messages import N_, Message
    from .validate import Problem

    return Problem("duplicate_row", None, Message(
        N_("duplicate of row %(row)s in the same file"), row=first_row))


def _start_batch(store: StoreLike, source: str, actor: str) -> int:
    # a batch still 'running' from a killed process is not running any more: start_batch
    # marks it interrupted
    return sql.start_batch(store, source, actor, datetime.now(UTC).replace(tzinfo=None))


@dataclass
class _Chunk:
    """A chunk of rows checked and prepared, ready for `_Batches.write`."""

    good: list  # valid testimonies (keys set, provinces tagged)
    bad: list[Checked]
    prepared: sql.Prepared | None  # the good ones not stored before, encrypted (not dry runs)
    known: int = 0  # good ones whose key was stored before


def _prepare_chunk(store: StoreLike, checked: list[Checked], report: ImportReport, tagger,
                   dry_run: bool, look_up: bool = True) -> _Chunk:
    """A chunk's Python work before it is stored: provinces, problems counted, and the
    testimonies not stored yet encrypted and laid out as columns (`look_up`: ask the
    database which are stored already; without it all are prepared, and the transaction
    still skips any stored)."""
    good = [c.testimony for c in checked if c.testimony is not None]
    bad = [c for c in checked if c.testimony is None]
    for t, tag in zip(good, tagger.tag([t.geometry for t in good]), strict=True):
        t.admin1 = tag
    report.valid += len(good)
    for c in bad:
        for p in c.problems:
            report.reasons[p.code] += 1
        if len(report.problems) < REPORT_ROWS:
            report.problems.append({"row": c.row_number,
                                    "problems": [p.as_dict() for p in c.problems]})
    if dry_run:
        return _Chunk(good, bad, None)
    # a re-run's rows are known: not encrypted again (the transaction checks the keys anyway)
    known = _existing_keys(store, [t.key for t in good]) if look_up else set()
    todo = [t for t in good if t.key not in known]
    return _Chunk(good, bad, sql.prepare_testimonies(store.cipher, store.dialect, todo),
                  len(good) - len(todo))


class _Batches:
    """The import's writes, chunk by chunk, each batch of up to `batch_rows` rows in one
    transaction: its new testimonies, quarantined rows and counts land together or not at
    all, and the report counts a batch once it has committed. Every call on the thread that
    stores (the connection stays there)."""

    def __init__(self, store: StoreLike, report: ImportReport, dry_run: bool,
                 occurrences: Counter, batch_rows: int) -> None:
        self.store, self.report, self.dry_run = store, report, dry_run
        self.occurrences, self.batch_rows = occurrences, batch_rows
        self._open: tuple[contextlib.ExitStack, Connection] | None = None
        self._cells: sql.DeferredCells | None = None  # the open batch's grid cells
        self._rows = 0
        self._counts: Counter = Counter()  # the open batch's, added to the report on commit

    def write(self, b: _Chunk) -> None:
        """Store a chunk in the open batch (opening one); commit it when the batch is full."""
        report = self.report
        if self.dry_run:
            existing = _existing_keys(self.store, [t.key for t in b.good])
            report.inserted += sum(1 for t in b.good if t.key not in existing)
            report.already_present += sum(1 for t in b.good if t.key in existing)
            report.quarantined += len(b.bad)
            return
        if self._open is None:
            stack = contextlib.ExitStack()
            conn = stack.enter_context(self.store.write())
            self._open = (stack, conn)
            sql.prepare_bulk_write(conn)
            self._cells = sql.DeferredCells(conn)
        conn = self._open[1]
        try:
            r: UpsertResult = sql.insert_prepared(conn, b.prepared, self._cells) \
                if b.prepared.items else UpsertResult()
            new_q, old_q = _quarantine(self.store, conn, b.bad, report, self.occurrences)
            sql.add_counts(conn, report.batch_id, inserted=r.inserted,
                           skipped=r.skipped + b.known + old_q, updated=new_q)
        except BaseException as e:
            self.abort(e)
            raise
        self._counts.update(inserted=r.inserted, already_present=r.skipped + b.known,
                            quarantined=len(b.bad), quarantined_before=old_q)
        self._rows += len(b.good) + len(b.bad)
        if self._rows >= self.batch_rows:
            self.commit()

    def commit(self) -> None:
        """Commit the open batch (if any) and count it in the report."""
        if self._open is None:
            return
        try:
            self._cells.finish()  # the batch's grid cells, in its transaction
        except BaseException as e:
            self.abort(e)
            raise
        stack, _ = self._open
        self._open, self._rows = None, 0
        counts, self._counts = self._counts, Counter()
        stack.close()  # the transaction commits (or raises, rolled back)
        r = self.report
        r.inserted += counts["inserted"]
        r.already_present += counts["already_present"]
        r.quarantined += counts["quarantined"]
        r.quarantined_before += counts["quarantined_before"]

    def abort(self, e: BaseException) -> None:
        """Roll the open batch back (nothing of it stays, nothing of it is counted)."""
        if self._open is None:
            return
        stack, _ = self._open
        self._open, self._rows, self._counts = None, 0, Counter()
        with contextlib.suppress(BaseException):  # the error being handled is the one to tell
            stack.__exit__(type(e), e, e.__traceback__)


def _existing_keys(store: StoreLike, keys: list[str]) -> set[str]:
    return sql.existing_testimony_keys(store, keys)


def _quarantine(store: StoreLike, conn: Connection, bad: list[Checked], report: ImportReport,
                occurrences: Counter) -> tuple[int, int]:
    """Keep bad rows (encrypted) with their reasons; a row quarantined before is not doubled.

    The key is the source and the row's content, plus which occurrence of that content in the
    file it is: two identical bad rows are two quarantined rows, and a re-run finds both."""
    if not bad:
        return 0, 0
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for c in bad:
        raw = json.dumps(c.raw, sort_keys=True, ensure_ascii=False)
        occurrences[raw] += 1
        k = occurrences[raw]
        key = store.cipher.blind_index(f"{report.source}|{raw}" + (f"|#{k}" if k > 1 else ""),
                                       "quarantine")
        rows.append({"key": key, "batch_id": report.batch_id, "source": report.source,
                     "row_number": c.row_number,
                     "raw_enc": store.cipher.encrypt(raw, "quarantine", key, "raw"),
                     "reasons": json.dumps([p.as_dict() for p in c.problems],
                                           ensure_ascii=False),
                     "created_at": now})
    fresh = sql.insert_quarantine(conn, rows)
    return fresh, len(rows) - fresh


def _finish_batch(store: StoreLike, report: ImportReport) -> None:
    sql.end_batch(store, report.batch_id, "done", datetime.now(UTC).replace(tzinfo=None),
                  json.dumps({k: v for k, v in report.as_dict().items() if k != "problems"},
                             ensure_ascii=False))


def quarantine_rows(store: StoreLike, source: str | None = None) -> list[dict]:
    """Quarantined rows, decrypted, with their reasons (for the review page and the export)."""
    rows = sql.quarantine_records(store, source)
    return [{"id": r.id, "source": r.source, "row": r.row_number,
             "raw": json.loads(store.cipher.decrypt(r.raw_enc, "quarantine", r.key, "raw")),
             "reasons": json.loads(r.reasons)} for r in rows]


def quarantine_csv(store: StoreLike, source: str | None = None) -> str:
    """The quarantine as CSV: the original columns, corrected by hand, re-import as they are
    (the `_source`, `_row` and `_problems` columns are ignored on import)."""
    rows = quarantine_rows(store, source)
    cols = list(dict.fromkeys(k for r in rows for k in r["raw"]))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["_source", "_row", "_problems", *cols])
    for r in rows:
        w.writerow([r["source"], r["row"], " | ".join(p["message"] for p in r["reasons"]),
                    *[r["raw"].get(c, "") for c in cols]])
    return buf.getvalue()


def export_quarantine(store: StoreLike, actor: str, source: str | None = None) -> str:
    """`quarantine_csv`, audited: quarantined rows hold witness data, so who took a copy is
    recorded (`geomap quarantine export` and the import page's download)."""
    text = quarantine_csv(store, source)
    store.audit(actor, "quarantine.export", source or "*")
    return text
