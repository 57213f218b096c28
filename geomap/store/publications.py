"""Persistence of publications and their versions (SQL stays here; the rules, the allow-lists
and the snapshot are in geomap.publications)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from .schema import publication_versions, publications

if TYPE_CHECKING:
    from .protocol import StoreLike


@dataclass(frozen=True)
class PublicationRecord:
    id: int
    slug: str
    settings: dict
    state: str
    created_by: str
    created_at: datetime
    latest_version: int | None  # the newest version number, published or not


@dataclass(frozen=True)
class VersionRecord:
    version: int
    settings: dict
    published_by: str
    published_at: datetime
    unpublished_by: str | None
    unpublished_at: datetime | None


class _Lost(Exception):
    """A conditional update found nothing to change: roll the audited transaction back."""


class PublicationStore:
    def __init__(self, store: StoreLike):
        self.store = store

    def _query(self):
        latest = (select(func.max(publication_versions.c.version))
                  .where(publication_versions.c.publication_id == publications.c.id)
                  .scalar_subquery())
        return select(publications, latest.label("latest_version"))

    @staticmethod
    def _record(r) -> PublicationRecord:
        return PublicationRecord(id=r.id, slug=r.slug, settings=json.loads(r.settings),
                                 state=r.state, created_by=r.created_by,
                                 created_at=r.created_at, latest_version=r.latest_version)

    def create(self, slug: str, settings: dict, actor: str, now: datetime) -> int | None:
        """A new draft; None when the slug is taken."""
        with self.store.read() as c:
            if c.execute(select(publications.c.id).where(publications.c.slug == slug)).first():
                return None
        with self.store.audited(actor, "publication.create", f"publication:{slug}",
                                {"slug": slug}) as c:
            return c.execute(publications.insert().values(
                slug=slug, settings=json.dumps(settings, ensure_ascii=False), state="draft",
                created_by=actor[:64], created_at=now)).inserted_primary_key[0]

    def get(self, pub_id: int) -> PublicationRecord | None:
        with self.store.read() as c:
            r = c.execute(self._query().where(publications.c.id == pub_id)).first()
        return self._record(r) if r else None

    def all(self) -> list[PublicationRecord]:
        with self.store.read() as c:
            return [self._record(r) for r in c.execute(
                self._query().order_by(publications.c.created_at.desc(),
                                       publications.c.id.desc()))]

    def save_settings(self, pub_id: int, slug: str, settings: dict, actor: str,
                      changed: list[str]) -> None:
        with self.store.audited(actor, "publication.edit", f"publication:{slug}",
                                {"changed": changed}) as c:
            c.execute(update(publications).where(publications.c.id == pub_id).values(
                settings=json.dumps(settings, ensure_ascii=False)))

    def add_version(self, pub_id: int, slug: str, settings: dict, build, actor: str,
                    now: datetime) -> int:
        """Append the next version in one audited transaction: `build(version)` returns the
        snapshot (computed once, stored as it is)."""
        with self.store.read() as c:
            n = c.execute(select(func.max(publication_versions.c.version)).where(
                publication_versions.c.publication_id == pub_id)).scalar()
        version = (n or 0) + 1
        snapshot = build(version)
        details = {"slug": slug, "version": version, "sites": len(snapshot["sites"]["features"]),
                   "cells": len(snapshot["cells"]["features"]),
                   "scenes": [s["id"] for s in snapshot["scenes"]],
                   "precision": snapshot["precision"]}
        with self.store.audited(actor, "publication.publish", f"publication:{slug}",
                                details) as c:
            # a version still marked live is over once a newer one is out
            c.execute(update(publication_versions).where(
                publication_versions.c.publication_id == pub_id,
                publication_versions.c.unpublished_at.is_(None)).values(
                unpublished_at=now, unpublished_by=actor[:64]))
            c.execute(publication_versions.insert().values(
                publication_id=pub_id, version=version,
                settings=json.dumps(settings, ensure_ascii=False),
                snapshot=json.dumps(snapshot, ensure_ascii=False, sort_keys=True),
                published_by=actor[:64], published_at=now))
            c.execute(update(publications).where(publications.c.id == pub_id)
                      .values(state="published"))
        return version

    def unpublish(self, pub_id: int, slug: str, actor: str, now: datetime) -> bool:
        """End the live version; False when nothing was published."""
        try:
            with self.store.audited(actor, "publication.unpublish", f"publication:{slug}",
                                    {"slug": slug}) as c:
                n = c.execute(update(publication_versions).where(
                    publication_versions.c.publication_id == pub_id,
                    publication_versions.c.unpublished_at.is_(None)).values(
                    unpublished_at=now, unpublished_by=actor[:64])).rowcount
                if n < 1:
                    raise _Lost
                c.execute(update(publications).where(publications.c.id == pub_id)
                          .values(state="unpublished"))
        except _Lost:
            return False
        return True

    def versions(self, pub_id: int) -> list[VersionRecord]:
        v = publication_versions
        with self.store.read() as c:
            return [VersionRecord(r.version, json.loads(r.settings), r.published_by,
                                  r.published_at, r.unpublished_by, r.unpublished_at)
                    for r in c.execute(select(v.c.version, v.c.settings, v.c.published_by,
                                              v.c.published_at, v.c.unpublished_by,
                                              v.c.unpublished_at)
                                       .where(v.c.publication_id == pub_id)
                                       .order_by(v.c.version.desc()))]

    def published_snapshot(self, slug: str) -> dict | None:
        """The live version's stored snapshot, or None (unknown slug, nothing live)."""
        v, p = publication_versions, publications
        with self.store.read() as c:
            r = c.execute(select(v.c.snapshot).join(p, p.c.id == v.c.publication_id).where(
                p.c.slug == slug, p.c.state == "published", v.c.unpublished_at.is_(None))
                .order_by(v.c.version.desc()).limit(1)).first()
        return json.loads(r.snapshot) if r else None
