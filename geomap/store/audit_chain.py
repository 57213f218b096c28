"""SQL of the hash-chained audit log's chain: the newest entry, appending one, and reading
every entry in order for verification. The hashing, the head file and the checks stay in
geomap.audit; these run on the caller's connection so an append is part of its transaction."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, Row, select

from .schema import audit_log


def newest(conn: Connection) -> tuple[int, str] | None:
    """(id, hash) of the newest entry, None for an empty log."""
    last = conn.execute(select(audit_log.c.id, audit_log.c.hash)
                        .order_by(audit_log.c.id.desc()).limit(1)).first()
    return (last.id, last.hash) if last else None


def insert(conn: Connection, *, entry_id: int, ts: str, actor: str, action: str,
           target: str | None, details: str, prev_hash: str, h: str) -> None:
    conn.execute(audit_log.insert().values(
        id=entry_id, ts=ts, actor=actor, action=action, target=target, details=details,
        prev_hash=prev_hash, hash=h))


def in_order(conn: Connection) -> Iterator[Row]:
    """Every entry, oldest first (streamed: a long log is not held in memory)."""
    yield from conn.execute(select(audit_log).order_by(audit_log.c.id))
