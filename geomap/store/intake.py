"""SQL of a testimony import (geomap.intake.run): the batch record, the quarantine of bad
rows, and which content keys are stored already. Functions taking a Connection run inside
the caller's transaction, so a batch's testimonies, quarantined rows and counts land
together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, select, update

from .schema import import_batches, quarantine, testimonies

if TYPE_CHECKING:
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
# (the unique content key, R*Tree, period, witness): a bulk insert then re-reads index pages
# from the OS for every row. A bounded 16 MiB cache on the writer connection made inserting
# 100,000 testimonies ~15 % faster (4.6 -> 4.0 s); 64 MiB bought little more.
BULK_CACHE_KIB = 16_384


def prepare_bulk_write(conn: Connection) -> None:
    """Tune the connection of an import batch's transaction (SQLite only; a no-op elsewhere)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")


def add_counts(conn: Connection, batch_id: int, inserted: int, skipped: int,
               updated: int) -> None:
    """Add one batch's counts to the batch record (in the batch's transaction)."""
    b = import_batches
    conn.execute(update(b).where(b.c.id == batch_id).values(
        inserted=b.c.inserted + inserted, skipped=b.c.skipped + skipped,
        updated=b.c.updated + updated))


def existing_testimony_keys(store: StoreLike, keys: Sequence[str]) -> set[str]:
    """Which of these content keys are stored already (500 keys a query)."""
    out: set[str] = set()
    with store.read() as conn:
        for i in range(0, len(keys), 500):
            out.update(conn.execute(select(testimonies.c.key)
                                    .where(testimonies.c.key.in_(keys[i:i + 500]))).scalars())
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
