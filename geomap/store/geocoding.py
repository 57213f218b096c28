"""SQL for a researcher's decisions on the place-names review list (geomap.geocode)."""

from __future__ import annotations

import json

from sqlalchemy import delete, select, update

from . import geom_columns
from .schema import geocode_review, sites, testimonies

_LOCATION = ("minx", "miny", "radius_m", "precision", "location_source", "geocode_note",
             "admin1_id")


def site_precisions(store) -> dict[str, str]:
    """site key -> location precision (a site's radius for geocoding)."""
    with store.read() as conn:
        return dict(conn.execute(select(sites.c.key, sites.c.precision)).all())


def review_item(store, testimony_id: int) -> dict | None:
    """The review entry of one testimony (None when it is not awaiting a decision)."""
    with store.read() as conn:
        r = conn.execute(select(geocode_review, testimonies.c.place_text)
                         .join(testimonies, testimonies.c.id == geocode_review.c.testimony_id)
                         .where(geocode_review.c.testimony_id == testimony_id)).first()
    if r is None:
        return None
    return {"testimony_id": r.testimony_id, "place_text": r.place_text, "reason": r.reason,
            "candidates": json.loads(r.candidates)}


def set_researcher_location(store, testimony_id: int, actor: str, action: str, point,
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
