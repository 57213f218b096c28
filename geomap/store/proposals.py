"""SQL for new-site proposals (geomap.proposals decides what to group and what to write)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, select

from .links import engine_columns
from .schema import links, testimonies

if TYPE_CHECKING:
    from .protocol import StoreLike

# a testimony with one of these links is explained by a listed site (or waits for a person to
# say whether it is); a rejected link explains nothing
ACTIVE_LINK = ("candidate", "ambiguous", "confirmed")


def unexplained_inputs(store: StoreLike, viewer) -> dict:
    """Located testimonies `viewer` may see with no active link: the clustering's input
    columns (metres are computed by the caller), witness refs (pseudonymous) included."""
    t = testimonies
    linked = select(links.c.testimony_id).where(links.c.status.in_(ACTIVE_LINK))
    q = (select(t.c.id, t.c.minx, t.c.miny, t.c.radius_m, t.c.place_text, t.c.period_start,
                t.c.period_end, t.c.witness_ref)
         .where(t.c.minx.is_not(None), t.c.tier.in_([str(x) for x in viewer.tiers]),
                ~t.c.id.in_(linked))
         .order_by(t.c.id))
    with store.read() as conn:
        rows = conn.execute(q).all()
    return {**engine_columns(rows), "witness": [r.witness_ref or f"#{r.id}" for r in rows]}


def member_rows(store: StoreLike, ids: list[int], viewer, with_codes: bool = True) -> list[dict]:
    """What a proposal page shows of its testimonies; the witness code (decrypted) only for
    roles that may read codes."""
    from ..policy import Permission

    if not ids:
        return []
    t = testimonies
    with store.read() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.key, t.c.witness_enc, t.c.place_text, t.c.period_text,
                   t.c.minx, t.c.miny, t.c.radius_m)
            .where(t.c.id.in_(ids), t.c.tier.in_([str(x) for x in viewer.tiers]))
            .order_by(t.c.period_start, t.c.id)).all()
    codes = with_codes and viewer.can(Permission.READ_WITNESS_CODES)
    out = []
    for r in rows:
        d = {"id": r.id, "place_text": r.place_text, "period_text": r.period_text,
             "lon": r.minx, "lat": r.miny, "radius_m": r.radius_m or 1000.0}
        if codes:
            d["witness_code"] = store.cipher.decrypt(r.witness_enc, "testimonies", r.key,
                                                     "witness_code")
        out.append(d)
    return out


def any_active_link(conn: Connection, testimony_ids: list[int]) -> bool:
    """Within the caller's transaction: has any of these testimonies an active link now?"""
    return conn.execute(select(links.c.testimony_id).where(
        links.c.testimony_id.in_(testimony_ids), links.c.status.in_(ACTIVE_LINK))
        .limit(1)).first() is not None


def add_candidate_links(conn: Connection, site_id: int, evidence: dict[int, dict],
                        engine: str) -> int:
    """Within the caller's transaction: each testimony of `evidence` (id -> its evidence)
    gets a candidate link to `site_id`, its undecided links giving way (as
    LinkStore.replace_candidates_for, but in the promotion's audited transaction so the site
    and its links land together)."""
    if not evidence:
        return 0
    conn.execute(delete(links).where(links.c.status.in_(["candidate", "ambiguous"]),
                                     links.c.testimony_id.in_(list(evidence))))
    conn.execute(links.insert(), [
        {"testimony_id": tid, "site_id": site_id, "score": 0.0, "status": "candidate",
         "evidence": json.dumps(ev, ensure_ascii=False), "engine": engine}
        for tid, ev in evidence.items()])
    return len(evidence)
