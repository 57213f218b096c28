"""The reads exports need beyond the map's rows: a testimony's interview date and (decrypted,
only when asked) narrative, and the links between visible testimonies and sites."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from .schema import links, sites, testimonies

if TYPE_CHECKING:
    from . import Store

_CHUNK = 900  # ids per IN list (SQLite's default host-parameter limit is 999)


def testimony_extras(store: Store, ids: Sequence[int], narratives: bool) -> dict[int, dict]:
    """id -> {"interview_date", "narrative"?} for testimonies already read through
    `testimony_rows` (so already filtered by the viewer's tiers). Decrypting narratives is
    the caller's decision, audited by the caller's export entry."""
    t = testimonies
    cols = [t.c.id, t.c.key, t.c.interview_date] + ([t.c.narrative_enc] if narratives else [])
    out: dict[int, dict] = {}
    wanted = sorted(set(ids))
    with store.read() as conn:
        for i in range(0, len(wanted), _CHUNK):
            for r in conn.execute(select(*cols).where(t.c.id.in_(wanted[i:i + _CHUNK]))):
                row = {"interview_date": r.interview_date}
                if narratives:
                    row["narrative"] = store.cipher.decrypt(
                        r.narrative_enc, "testimonies", r.key, "narrative") \
                        if r.narrative_enc is not None else None
                out[r.id] = row
    return out


def link_rows(store: Store, tiers: Sequence[str],
              statuses: Sequence[str] = ("confirmed", "candidate", "ambiguous")) -> list[dict]:
    """Links whose testimony and site are both of `tiers` (the caller cuts them to what its
    viewer may see), with the testimony's point (the caller has the sites'); ordered by testimony then site."""
    t, s = testimonies, sites
    q = (select(links.c.testimony_id, links.c.status, links.c.score, links.c.decided_at,
                s.c.key.label("site_key"),
                t.c.minx.label("lon"), t.c.miny.label("lat"))
         .join(t, t.c.id == links.c.testimony_id).join(s, s.c.id == links.c.site_id)
         .where(links.c.status.in_(list(statuses)), t.c.tier.in_(list(tiers)),
                s.c.tier.in_(list(tiers)))
         .order_by(links.c.testimony_id, s.c.key))
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
