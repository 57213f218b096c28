"""SQL of the partner exchange (geomap.exchange): the record of each imported bundle, kept in
the import batch table the testimony intake already uses (kind 'exchange', source
'exchange:<bundle id>', the provenance in its report), so a re-import finds it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from .schema import import_batches

if TYPE_CHECKING:
    from .protocol import Connection, StoreLike

KIND = "exchange"


def bundle_source(bundle_id: str) -> str:
    return f"exchange:{bundle_id}"


def imported_bundle(store: StoreLike, bundle_id: str) -> dict | None:
    """The provenance report of a bundle imported already, or None."""
    b = import_batches
    with store.read() as conn:
        r = conn.execute(select(b.c.report).where(
            b.c.kind == KIND, b.c.source == bundle_source(bundle_id), b.c.status == "done")
            .order_by(b.c.id).limit(1)).first()
    return json.loads(r.report or "{}") if r is not None else None


def record_bundle(conn: Connection, bundle_id: str, actor: str, now: datetime,
                  inserted: int, updated: int, skipped: int, report: dict) -> int:
    """One 'done' batch record for an imported bundle (in the caller's audited transaction)."""
    return conn.execute(import_batches.insert().values(
        kind=KIND, source=bundle_source(bundle_id), started_at=now, finished_at=now,
        inserted=inserted, updated=updated, skipped=skipped, status="done", actor=actor,
        report=json.dumps(report, ensure_ascii=False, sort_keys=True))).inserted_primary_key[0]
