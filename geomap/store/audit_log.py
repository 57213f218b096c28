"""Queries on the audit log for the administration page and its export (the chain itself is
appended and verified by geomap.audit)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, text

from .schema import audit_log

if TYPE_CHECKING:
    from ..audit import Filter


# pg_advisory_xact_lock key of the chain's head (any constant no other lock uses)
_CHAIN_LOCK = 0x6765_6F6D_6170


def lock_chain(conn: Connection) -> None:
    """Serialise appends to the hash chain until the caller's transaction ends. SQLite's write
    transactions (BEGIN IMMEDIATE) are already serial; on PostgreSQL two transactions would
    otherwise both read the same head and write entries with the same id and previous hash."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})


def where_clauses(f: Filter) -> list:
    """Exact actor and action; dates inclusive, compared as text like the entries' ISO times."""
    w = []
    if f.actor:
        w.append(audit_log.c.actor == f.actor)
    if f.action:
        w.append(audit_log.c.action == f.action)
    if f.since:
        w.append(audit_log.c.ts >= f.since)
    if f.until:
        w.append(audit_log.c.ts < (date.fromisoformat(f.until) + timedelta(days=1)).isoformat())
    return w


def entries(conn: Connection, f: Filter, limit: int | None = 50,
            offset: int = 0) -> tuple[list, int]:
    """(entries newest first, how many match in all)."""
    where = where_clauses(f)
    total = conn.execute(select(func.count()).select_from(audit_log).where(*where)).scalar_one()
    q = select(audit_log).where(*where).order_by(audit_log.c.id.desc()).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return conn.execute(q).all(), total


def actions(conn: Connection) -> list[str]:
    """Every action name the log holds (for a filter's choices)."""
    return [r[0] for r in conn.execute(select(audit_log.c.action).distinct()
                                       .order_by(audit_log.c.action))]


def for_targets(conn: Connection, targets: list[str], limit: int = 200) -> list:
    """Entries about these targets (e.g. "testimony:12"), newest first: one record's
    history."""
    return conn.execute(select(audit_log).where(audit_log.c.target.in_(targets))
                        .order_by(audit_log.c.id.desc()).limit(limit)).all()
