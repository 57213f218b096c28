"""SQL of geocoding (geomap.geocode): the testimonies waiting for a place, the review list,
and a researcher's decisions on it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, delete, select, update

from . import geom_columns
from .schema import geocode_review, sites, testimonies

if TYPE_CHECKING:
    from .protocol import StoreLike

_LOCATION = ("minx", "miny", "radius_m", "precision", "location_source", "geocode_note",
             "admin1_id")


def site_precisions(store: StoreLike) -> dict[str, str]:
    """site key -> location precision (a site's radius for geocoding)."""
    with store.read() as conn:
        return precisions_in(conn)


def precisions_in(conn: Connection) -> dict[str, str]:
    """`site_precisions` inside the caller's transaction."""
    return dict(conn.execute(select(sites.c.key, sites.c.precision)).all())


def pending_places(conn: Connection, keys: Sequence[str] | None = None) -> list[Row]:
    """(id, place_text) of testimonies with a place name and no location, still as reported
    and not on the review list; with `keys`, only those testimonies (500 keys a query)."""
    t = testimonies
    q = (select(t.c.id, t.c.place_text)
         .where(t.c.minx.is_(None), t.c.place_text.is_not(None),
                t.c.location_source == "reported",
                ~t.c.id.in_(select(geocode_review.c.testimony_id))))
    if keys is None:
        return conn.execute(q).all()
    keys = list(keys)
    return [r for i in range(0, len(keys), 500)
            for r in conn.execute(q.where(t.c.key.in_(keys[i:i + 500]))).all()]


def queue_for_review(conn: Connection, testimony_id: int, reason: str, candidates: str,
                     now: datetime) -> None:
    """Put a testimony on the review list (replacing an entry it had); `candidates` is JSON."""
    conn.execute(delete(geocode_review).where(geocode_review.c.testimony_id == testimony_id))
    conn.execute(geocode_review.insert().values(
        testimony_id=testimony_id, reason=reason, created_at=now, candidates=candidates))


def set_geocoded(conn: Connection, testimony_id: int, values: dict) -> None:
    """Write a geocoder's decision (location columns) on a testimony."""
    conn.execute(update(testimonies).where(testimonies.c.id == testimony_id).values(**values))


def review_rows(store: StoreLike) -> list[Row]:
    """The whole review list with each testimony's place text, by testimony id."""
    with store.read() as conn:
        return conn.execute(select(geocode_review, testimonies.c.place_text)
                            .join(testimonies,
                                  testimonies.c.id == geocode_review.c.testimony_id)
                            .order_by(geocode_review.c.testimony_id)).all()


def review_item(store: StoreLike, testimony_id: int) -> dict | None:
    """The review entry of one testimony (None when it is not awaiting a decision)."""
    with store.read() as conn:
        r = conn.execute(select(geocode_review, testimonies.c.place_text)
                         .join(testimonies, testimonies.c.id == geocode_review.c.testimony_id)
                         .where(geocode_review.c.testimony_id == testimony_id)).first()
    if r is None:
        return None
    return {"testimony_id": r.testimony_id, "place_text": r.place_text, "reason": r.reason,
            "candidates": json.loads(r.candidates)}


def set_researcher_location(store: StoreLike, testimony_id: int, actor: str, action: str, point,
                            radius_m: float | None, precision: str | None, note: str,
                            admin: dict, details: dict) -> dict:
    """Set a testimony's location as a researcher decided it, take it off the review list,
    and audit the change with the location before and after, in one transaction."""
    t = testimonies
    details = dict(details)
    with store.audited(actor, action, f"testimony:{testimony_id}", details) as conn:
        before = conn.execute(select(*(t.c[c] for c in _LOCATION))
                              .where(t.c.id == testimony_id)).first()
        values = {"location_source": "researcher", "geocode_note": note,
                  "precision": precision, "radius_m": radius_m, **geom_columns(point), **admin}
        conn.execute(update(t).where(t.c.id == testimony_id).values(**values))
        conn.execute(delete(geocode_review).where(geocode_review.c.testimony_id == testimony_id))
        after = conn.execute(select(*(t.c[c] for c in _LOCATION))
                             .where(t.c.id == testimony_id)).first()
        details["before"] = dict(before._mapping) if before else None
        details["after"] = dict(after._mapping) if after else None
    return details
