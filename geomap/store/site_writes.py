"""SQL for sites a person adds or edits in the app (geomap.site_edit decides what to write).

Every function takes the caller's connection, so the row, its citations and the audit entry
land in one transaction (`Store.audited`). The sites R*Tree follows the bbox columns through
its triggers (migration 0001), so writing `geom_columns` keeps map queries right.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from ..model import Site
from . import Store
from .schema import site_sources, sites


def key_taken(conn: Connection, key: str) -> bool:
    return conn.execute(select(sites.c.id).where(sites.c.key == key)).first() is not None


def keys_like(conn: Connection, prefix: str) -> set[str]:
    """Keys equal to `prefix` or starting with `prefix-` (for choosing a free one)."""
    q = select(sites.c.key).where(sites.c.key.like(prefix.replace("%", "").replace("_", "\\_")
                                                   + "%", escape="\\"))
    return {k for (k,) in conn.execute(q)}


def site_for_update(conn: Connection, store: Store, key: str) -> Site | None:
    """The stored site with its citations, read inside the write transaction (any tier: the
    caller decides who may edit)."""
    r = conn.execute(select(sites).where(sites.c.key == key)).first()
    if r is None:
        return None
    return store._with_citations(conn, [store._site(r)])[0]


def insert_site(conn: Connection, store: Store, s: Site) -> int:
    s.id = conn.execute(sites.insert().values(**store._site_values(s))).inserted_primary_key[0]
    replace_citations(conn, s)
    return s.id


def update_site(conn: Connection, store: Store, s: Site) -> None:
    conn.execute(sites.update().where(sites.c.id == s.id).values(**store._site_values(s)))
    replace_citations(conn, s)


def replace_citations(conn: Connection, s: Site) -> None:
    conn.execute(site_sources.delete().where(site_sources.c.site_id == s.id))
    if s.citations:
        conn.execute(site_sources.insert(), [{
            "site_id": s.id, "position": i, "publisher": c.publisher, "title": c.title,
            "url": c.url, "date": c.date, "supports": "|".join(c.supports),
            "accessed_via": c.accessed_via, "point_source": c.point_source, "detail": c.detail,
        } for i, c in enumerate(s.citations)])
