"""Persistence of links and the inputs the linking engine reads (SQL stays here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import and_, bindparam, delete, func, select, update

from .schema import links, sites, testimonies

_CHUNK = 500  # ids or keys per IN (...) list; stays under SQLite's variable limit

if TYPE_CHECKING:
    from .protocol import StoreLike


def engine_columns(rows) -> dict:
    """Located testimony rows as the columns the linker and the proposals take (a located
    testimony without a radius counts 1 km, as the linker assumes)."""
    return {
        "id": np.array([r.id for r in rows], dtype=np.int64),
        "lon": np.array([r.minx for r in rows], dtype=float),
        "lat": np.array([r.miny for r in rows], dtype=float),
        "radius": np.array([r.radius_m or 1000.0 for r in rows], dtype=float),
        "place": [r.place_text for r in rows],
        "start": [r.period_start for r in rows], "end": [r.period_end for r in rows],
    }


class LinkStore:
    def __init__(self, store: StoreLike):
        self.store = store

    def testimony_inputs(self, ids: list[int] | None = None) -> dict[str, np.ndarray | list]:
        """Columns the engine needs, for every testimony with a location (of `ids` only)."""
        t = testimonies
        q = select(t.c.id, t.c.minx, t.c.miny, t.c.radius_m, t.c.place_text, t.c.period_start,
                   t.c.period_end, t.c.violations, t.c.witness_ref).where(t.c.minx.is_not(None))
        with self.store.read() as conn:
            if ids is None:
                rows = conn.execute(q.order_by(t.c.id)).all()
            else:  # an import's 100,000 ids: in lists the database takes
                wanted = sorted(set(ids))
                rows = [r for i in range(0, len(wanted), _CHUNK) for r in conn.execute(
                    q.where(t.c.id.in_(wanted[i:i + _CHUNK])).order_by(t.c.id)).all()]
        return {**engine_columns(rows), "violations": [r.violations for r in rows]}

    def ids_of_keys(self, keys: Sequence[str]) -> list[int]:
        """Ids of the testimonies with these content keys (an import's report keeps keys)."""
        keys = list(keys)
        with self.store.read() as conn:
            return sorted(i for n in range(0, len(keys), _CHUNK) for i in conn.execute(
                select(testimonies.c.id).where(testimonies.c.key.in_(keys[n:n + _CHUNK])))
                .scalars())

    def unlinked_inputs(self) -> tuple[dict, list[str]]:
        """Engine inputs for located testimonies with no link at all (not even a candidate or
        a rejection-only history counts as linked: rejected testimonies are unlinked), and
        their witness refs."""
        t = testimonies
        linked = select(links.c.testimony_id).where(
            links.c.status.in_(["candidate", "confirmed", "ambiguous"]))
        with self.store.read() as conn:
            ids = [r.id for r in conn.execute(
                select(t.c.id).where(t.c.minx.is_not(None), ~t.c.id.in_(linked)))]
            refs = dict(conn.execute(select(t.c.id, t.c.witness_ref)
                                     .where(t.c.id.in_(ids))).all()) if ids else {}
        inputs = self.testimony_inputs(ids)
        return inputs, [refs[int(i)] for i in inputs["id"]]

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

    def replace_candidates_for(self, testimony_ids: list[int], proposals: list[dict],
                               engine: str) -> int:
        """As `replace_candidates`, for these testimonies only (one just located, or an
        import's new ones)."""
        decided = self.decided_pairs()
        ids = sorted(set(testimony_ids))
        wanted = set(ids)
        fresh = [p for p in proposals if p["testimony_id"] in wanted
                 and (p["testimony_id"], p["site_id"]) not in decided]
        with self.store.write() as conn:
            # the undecided links of these testimonies, found by the primary key (a WHERE on
            # status too lets SQLite walk every candidate of the table through the status
            # index, once per chunk), removed by the primary key
            stale = [{"t_id": r.testimony_id, "s_id": r.site_id}
                     for i in range(0, len(ids), _CHUNK) for r in conn.execute(
                         select(links.c.testimony_id, links.c.site_id, links.c.status)
                         .where(links.c.testimony_id.in_(ids[i:i + _CHUNK])))
                     if r.status in ("candidate", "ambiguous")]
            if stale:
                conn.execute(delete(links).where(links.c.testimony_id == bindparam("t_id"),
                                                 links.c.site_id == bindparam("s_id")), stale)
            for i in range(0, len(fresh), 5000):
                conn.execute(links.insert(), [
                    {"status": "candidate", **p,
                     "evidence": json.dumps(p["evidence"], ensure_ascii=False),
                     "engine": engine} for p in fresh[i:i + 5000]])
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


def _queue_where(viewer) -> list:
    t, s = testimonies, sites
    tiers = [str(x) for x in viewer.tiers]
    return [links.c.status.in_(["candidate", "ambiguous"]), t.c.tier.in_(tiers),
            s.c.tier.in_(tiers)]


def review_count(store: StoreLike, viewer) -> int:
    """How many undecided links `viewer` may review (the queue's true size)."""
    t, s = testimonies, sites
    with store.read() as conn:
        return conn.execute(
            select(func.count()).select_from(links)
            .join(t, t.c.id == links.c.testimony_id).join(s, s.c.id == links.c.site_id)
            .where(*_queue_where(viewer))).scalar_one()


def review_queue(store: StoreLike, viewer, rule, limit: int = 200, offset: int = 0) -> list[dict]:
    """Undecided links (candidates and ambiguous pairs) with what a reviewer needs, ordered by
    how much a decision would change the site's grade: first those whose confirmation would
    raise a grade, then those adding a new independent witness, then by score (ties by
    testimony and site id, so pages do not overlap). `offset`/`limit` select a page: the
    order needs every pair's few ordering columns, but only the page's rows are read in full
    and have their witness codes decrypted."""
    from ..policy import Permission

    t, s = testimonies, sites
    where = _queue_where(viewer)
    with store.read() as conn:
        keys = conn.execute(
            select(links.c.testimony_id, links.c.site_id, links.c.score, t.c.witness_ref,
                   t.c.relationship)
            .join(t, t.c.id == links.c.testimony_id).join(s, s.c.id == links.c.site_id)
            .where(*where)).all()
        confirmed = conn.execute(
            select(links.c.site_id, t.c.witness_ref, t.c.relationship)
            .join(t, t.c.id == links.c.testimony_id).where(links.c.status == "confirmed")).all()
    witnesses: dict[int, set] = {}
    first_hand: dict[int, set] = {}
    for site_id, ref, rel in confirmed:
        witnesses.setdefault(site_id, set()).add(ref)
        if rel in ("detained", "saw_directly"):
            first_hand.setdefault(site_id, set()).add(ref)
    grades: dict[tuple[int, int], tuple] = {}
    for k in keys:
        w, fh = witnesses.get(k.site_id, set()), first_hand.get(k.site_id, set())
        first = k.relationship in ("detained", "saw_directly")
        grades[(k.testimony_id, k.site_id)] = (
            rule.grade(len(w), len(fh)),
            rule.grade(len(w | {k.witness_ref}), len(fh | ({k.witness_ref} if first else set()))),
            k.witness_ref not in w)
    order = sorted(keys, key=lambda k: (
        grades[(k.testimony_id, k.site_id)][0] == grades[(k.testimony_id, k.site_id)][1],
        not grades[(k.testimony_id, k.site_id)][2], -k.score, k.testimony_id, k.site_id))
    page = [(k.testimony_id, k.site_id) for k in order[offset:offset + limit]]
    if not page:
        return []
    rows: dict[tuple[int, int], object] = {}
    with store.read() as conn:
        page_tids = sorted({tid for tid, _ in page})
        for r in conn.execute(
                select(links.c.testimony_id, links.c.site_id, links.c.score, links.c.evidence,
                       links.c.status, t.c.key, t.c.witness_ref, t.c.witness_enc,
                       t.c.place_text, t.c.minx, t.c.miny, t.c.radius_m, t.c.period_text,
                       t.c.violations, t.c.relationship, t.c.synthetic,
                       s.c.key.label("site_key"), s.c.name.label("site_name"),
                       s.c.minx.label("site_lon"), s.c.miny.label("site_lat"),
                       s.c.precision.label("site_precision"))
                .join(t, t.c.id == links.c.testimony_id).join(s, s.c.id == links.c.site_id)
                .where(*where, links.c.testimony_id.in_(page_tids))):
            rows[(r.testimony_id, r.site_id)] = r
    codes = viewer.can(Permission.READ_WITNESS_CODES)
    out = []
    for pair in page:
        r = rows.get(pair)
        if r is None:  # decided between the two reads
            continue
        now, after, new = grades[pair]
        item = {
            "testimony_id": r.testimony_id, "site_id": r.site_id, "score": r.score,
            "status": r.status, "evidence": json.loads(r.evidence),
            "place_text": r.place_text, "lon": r.minx, "lat": r.miny, "radius_m": r.radius_m,
            "period": r.period_text, "violations": r.violations.split(",") if r.violations else [],
            "relationship": r.relationship, "synthetic": bool(r.synthetic),
            "site_key": r.site_key, "site_name": r.site_name, "site_lon": r.site_lon,
            "site_lat": r.site_lat, "site_precision": r.site_precision,
            "grade_now": now, "grade_if_confirmed": after, "new_witness": new,
        }
        if codes:
            item["witness_code"] = store.cipher.decrypt(r.witness_enc, "testimonies", r.key,
                                                        "witness_code")
        out.append(item)
    return out


def confirmed_for_site(store: StoreLike, site_id: int, viewer) -> list[dict]:
    from ..policy import Permission

    t = testimonies
    with store.read() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.key, t.c.witness_ref, t.c.witness_enc, t.c.relationship,
                   t.c.period_text, t.c.period_start, t.c.period_end, t.c.violations,
                   t.c.minx, t.c.miny, t.c.radius_m, t.c.place_text)
            .join(links, links.c.testimony_id == t.c.id)
            .where(links.c.site_id == site_id, links.c.status == "confirmed",
                   t.c.tier.in_([str(x) for x in viewer.tiers]))
            .order_by(t.c.period_start)).all()
    codes = viewer.can(Permission.READ_WITNESS_CODES)
    out = []
    for r in rows:
        d = {"id": r.id, "witness_ref": r.witness_ref, "relationship": r.relationship,
             "period_text": r.period_text, "period_start": r.period_start,
             "period_end": r.period_end, "place_text": r.place_text, "lon": r.minx,
             "lat": r.miny, "radius_m": r.radius_m,
             "violations": r.violations.split(",") if r.violations else []}
        # a pseudonymous code only for roles that may read codes; otherwise a stable alias
        d["code"] = (store.cipher.decrypt(r.witness_enc, "testimonies", r.key, "witness_code")
                     if codes else f"#{r.id}")
        out.append(d)
    return out
