"""SQL for one testimony's page, its edit form and the witness-code search (geomap.search,
geomap.testimony_edit). Visibility by the viewer's tiers is applied here, in the queries."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import shapely
from sqlalchemy import delete, select, update

from ..errors import Conflict
from ..messages import N_, Message
from ..policy import Permission, Principal
from . import geom_columns
from .audit_log import for_targets
from .schema import geocode_review, links, sites, testimonies, testimony_violations

if TYPE_CHECKING:
    from .protocol import StoreLike


def _tiers(viewer: Principal) -> list[str]:
    return [str(x) for x in viewer.tiers]


def witness_matches(store: StoreLike, viewer: Principal, q: str, limit: int = 50) -> list[dict]:
    """Testimonies whose witness code is `q` or starts with it (case-insensitive), for roles
    that may read codes; anyone else gets [] whatever exists. Codes are encrypted at rest, so
    an exact code is found by its keyed index and a prefix by decrypting the visible codes."""
    if not viewer.can(Permission.READ_WITNESS_CODES) or not q:
        return []
    t = testimonies
    cols = (t.c.id, t.c.key, t.c.witness_enc, t.c.place_text, t.c.period_text, t.c.tier)
    with store.read() as conn:
        rows = conn.execute(select(*cols).where(t.c.tier.in_(_tiers(viewer)))
                            .order_by(t.c.id)).all()
    needle = q.casefold()
    out = []
    for r in rows:
        code = store.cipher.decrypt(r.witness_enc, "testimonies", r.key, "witness_code") or ""
        if code.casefold().startswith(needle):
            out.append({"id": r.id, "witness_code": code, "place_text": r.place_text,
                        "period": r.period_text, "exact": code.casefold() == needle})
    out.sort(key=lambda d: (not d["exact"], d["witness_code"], d["id"]))
    return out[:limit]


def _version(row) -> str:
    """A fingerprint of a testimony row as stored: an update checks the row is still the one
    its changes were computed from (two editors at once: the second gets a 409, not a silent
    overwrite of the first's change)."""
    raw = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
    return hashlib.sha256(repr(raw).encode()).hexdigest()


def editable(store: StoreLike, testimony_id: int, viewer: Principal) -> dict | None:
    """Every stored field of a testimony as the edit form and the update compare them, with
    the witness code and narrative decrypted (None when `viewer` may not see it). Not a read
    shown to anyone: the caller audits a narrative it displays."""
    t = testimonies
    with store.read() as conn:
        r = conn.execute(select(t).where(t.c.id == testimony_id,
                                         t.c.tier.in_(_tiers(viewer)))).first()
    if r is None:
        return None
    dec = store.cipher.decrypt
    return {
        "id": r.id, "key": r.key,
        "witness_code": dec(r.witness_enc, "testimonies", r.key, "witness_code"),
        "narrative": dec(r.narrative_enc, "testimonies", r.key, "narrative")
        if r.narrative_enc is not None else None,
        "place_text": r.place_text, "lon": r.minx, "lat": r.miny, "radius_m": r.radius_m,
        "precision": r.precision, "period": r.period_text, "period_start": r.period_start,
        "period_end": r.period_end, "relationship": r.relationship,
        "violations": r.violations.split(",") if r.violations else [],
        "interview_date": r.interview_date, "tier": r.tier, "synthetic": bool(r.synthetic),
        "location_source": r.location_source, "geocode_note": r.geocode_note,
        "admin1_id": r.admin1_id, "version": _version(r),
    }


def write_update(store: StoreLike, testimony_id: int, key: str, values: dict, actor: str,
                 details: dict, version: str | None = None) -> None:
    """Store the changed `values` (domain values: geometry, violations list, clear witness
    code and narrative, which are encrypted here) and the audit entry, in one transaction.
    With `version` (editable()'s), Conflict when the row changed since that read."""
    t = testimonies
    row: dict = {}
    for name, v in values.items():
        if name == "geometry":
            row.update(geom_columns(v))
        elif name == "witness_code":
            row["witness_enc"] = store.cipher.encrypt(v, "testimonies", key, "witness_code")
            row["witness_ref"] = store.cipher.blind_index(v, "witness")
        elif name == "narrative":
            row["narrative_enc"] = store.cipher.encrypt(v, "testimonies", key, "narrative")
        elif name == "violations":
            row["violations"] = ",".join(sorted(set(v)))
        else:
            row[name] = v
    with store.audited(actor, "testimony.update", f"testimony:{testimony_id}", details) as conn:
        if version is not None:  # under the write lock: nobody changes it between check and write
            now = conn.execute(select(t).where(t.c.id == testimony_id)).first()
            if now is None or _version(now) != version:
                raise Conflict(Message(N_("Someone else changed this testimony while you were "
                                          "editing it. Reload it and make your change again.")))
        conn.execute(update(t).where(t.c.id == testimony_id).values(**row))
        if values.get("geometry") is not None:  # located by hand: off the place-names list
            conn.execute(delete(geocode_review)
                         .where(geocode_review.c.testimony_id == testimony_id))
        if "violations" in values:
            conn.execute(delete(testimony_violations)
                         .where(testimony_violations.c.testimony_id == testimony_id))
            if values["violations"]:
                conn.execute(testimony_violations.insert(), [
                    {"testimony_id": testimony_id, "violation": str(v)}
                    for v in sorted(set(values["violations"]))])


def links_of(store: StoreLike, testimony_id: int, viewer: Principal) -> list[dict]:
    """The testimony's links to sites `viewer` may see: status, score, who decided and when."""
    s = sites
    with store.read() as conn:
        rows = conn.execute(
            select(links.c.site_id, links.c.status, links.c.score, links.c.decided_by,
                   links.c.decided_at, links.c.evidence, s.c.key, s.c.name, s.c.name_ko,
                   s.c.minx, s.c.miny, s.c.precision)
            .join(s, s.c.id == links.c.site_id)
            .where(links.c.testimony_id == testimony_id, s.c.tier.in_(_tiers(viewer)))
            .order_by(links.c.score.desc(), links.c.site_id)).all()
    return [{"site_id": r.site_id, "status": r.status, "score": r.score,
             "decided_by": r.decided_by, "decided_at": r.decided_at, "site_key": r.key,
             "site_name": r.name, "site_name_ko": r.name_ko, "lon": r.minx, "lat": r.miny,
             "precision": r.precision, "evidence": json.loads(r.evidence or "{}")}
            for r in rows]


def history(store: StoreLike, testimony_id: int, limit: int = 200) -> list[dict]:
    """Audit entries about this testimony, newest first: edits, placements, link decisions,
    narrative reads."""
    with store.read() as conn:
        rows = for_targets(conn, [f"testimony:{testimony_id}"], limit)
    return [{"id": r.id, "ts": r.ts, "actor": r.actor, "action": r.action,
             "details": json.loads(r.details or "{}")} for r in rows]


def point_of(lon: float | None, lat: float | None):
    return shapely.Point(lon, lat) if lon is not None and lat is not None else None


def has_narrative(store: StoreLike, testimony_id: int) -> bool:
    """Whether a narrative is stored (nothing decrypted, nothing audited)."""
    t = testimonies
    with store.read() as conn:
        return conn.execute(select(t.c.narrative_enc.is_not(None))
                            .where(t.c.id == testimony_id)).scalar() is True
