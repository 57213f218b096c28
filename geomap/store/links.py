"""Persistence of links and the inputs the linking engine reads (SQL stays here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import and_, delete, select, update

from .schema import links, sites, testimonies


class LinkStore:
    def __init__(self, store):
        self.store = store

    def testimony_inputs(self, ids: list[int] | None = None) -> dict[str, np.ndarray | list]:
        """Columns the engine needs, for every testimony with a location."""
        t = testimonies
        q = select(t.c.id, t.c.minx, t.c.miny, t.c.radius_m, t.c.place_text, t.c.period_start,
                   t.c.period_end, t.c.violations, t.c.witness_ref).where(t.c.minx.is_not(None))
        if ids is not None:
            q = q.where(t.c.id.in_(ids))
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(t.c.id)).all()
        return {
            "id": np.array([r.id for r in rows], dtype=np.int64),
            "lon": np.array([r.minx for r in rows], dtype=float),
            "lat": np.array([r.miny for r in rows], dtype=float),
            "radius": np.array([r.radius_m or 1000.0 for r in rows], dtype=float),
            "place": [r.place_text for r in rows],
            "start": [r.period_start for r in rows], "end": [r.period_end for r in rows],
            "violations": [r.violations for r in rows],
        }

    def decided_pairs(self) -> set[tuple[int, int]]:
        with self.store.read() as conn:
            return {(r.testimony_id, r.site_id) for r in conn.execute(
                select(links.c.testimony_id, links.c.site_id)
                .where(links.c.status.in_(["confirmed", "rejected"])))}

    def replace_candidates(self, proposals: list[dict], engine: str, batch: int = 5000) -> int:
        """Swap the engine's candidate links for `proposals`; decided links are never touched
        (a proposal for a decided pair is dropped)."""
        decided = self.decided_pairs()
        fresh = [p for p in proposals if (p["testimony_id"], p["site_id"]) not in decided]
        with self.store.write() as conn:
            conn.execute(delete(links).where(links.c.status.in_(["candidate", "ambiguous"])))
            for i in range(0, len(fresh), batch):
                conn.execute(links.insert(), [
                    {"status": "candidate", **p,
                     "evidence": json.dumps(p["evidence"], ensure_ascii=False),
                     "engine": engine} for p in fresh[i:i + batch]])
        return len(fresh)

    def decide(self, testimony_id: int, site_id: int, status: str, actor: str,
               evidence: dict | None = None) -> None:
        """Confirm or reject a link (creating it if a person links a different site)."""
        if status not in ("confirmed", "rejected"):
            raise ValueError(status)
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.store.audited(actor, f"link.{status}", f"testimony:{testimony_id}",
                                {"site_id": site_id}) as conn:
            n = conn.execute(update(links).where(and_(
                links.c.testimony_id == testimony_id, links.c.site_id == site_id)).values(
                status=status, decided_by=actor, decided_at=now)).rowcount
            if n == 0:
                conn.execute(links.insert().values(
                    testimony_id=testimony_id, site_id=site_id, score=0.0,
                    evidence=json.dumps(evidence or {"by_hand": True}), status=status,
                    decided_by=actor, decided_at=now, engine="person"))

    def all(self, status: str | None = None) -> list[dict]:
        q = select(links, sites.c.key.label("site_key")).join(sites, sites.c.id == links.c.site_id)
        if status:
            q = q.where(links.c.status == status)
        with self.store.read() as conn:
            return [{**dict(r._mapping), "evidence": json.loads(r.evidence)}
                    for r in conn.execute(q)]
