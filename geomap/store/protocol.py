"""`StoreLike`: the part of `Store` the library and the web app use, as a typed interface.

Library functions take `store: StoreLike` rather than the concrete class, so they say what
they need of a store (and a test double or another backend's store can stand in). Modules
inside geomap/store/ that reach the Store's private helpers take `Store` itself.
tests/test_layering.py checks that `Store` keeps every member listed here with the same
parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

# re-exported: library modules annotate a connection without importing sqlalchemy
from sqlalchemy import Connection

if TYPE_CHECKING:
    from datetime import datetime

    from shapely.geometry.base import BaseGeometry

    from ..crypto import FieldCipher
    from ..keys import KeyRing
    from ..model import AdminTag, BoundaryUnit, FacilityType, Site, Testimony
    from ..periods import Period
    from ..policy import Principal
    from . import BBox, TestimonyFilter, UpsertResult


class StoreLike(Protocol):
    url: str
    keys: KeyRing
    cipher: FieldCipher  # replaced by key rotation (geomap.rotation)
    audit_head: Path | None
    dialect: str

    # -- transactions and the audit log -------------------------------------------------------
    def read(self) -> AbstractContextManager[Connection]: ...

    def write(self) -> AbstractContextManager[Connection]: ...

    def audited(self, actor: str, action: str, target: str | None = None,
                details: dict | None = None) -> AbstractContextManager[Connection]: ...

    def audit(self, actor: str, action: str, target: str | None = None,
              details: dict | None = None) -> None: ...

    def schema_revision(self) -> str | None: ...

    def close(self) -> None: ...

    # -- boundaries ---------------------------------------------------------------------------
    def boundary_units(self, level: int | None = None) -> list[BoundaryUnit]: ...

    def upsert_boundary_units(self, units: Iterable[BoundaryUnit]) -> UpsertResult: ...

    def ids_intersecting(self, table_name: str, bbox: BBox) -> list[int]: ...

    def set_admin_tags(self, table_name: str, tags: dict[int, AdminTag | None]) -> None: ...

    # -- sites --------------------------------------------------------------------------------
    def upsert_sites(self, items: Iterable[Site],
                     former_keys: Mapping[str, str] | None = None) -> UpsertResult: ...

    def sites(self, viewer: Principal, facility_types: Sequence[FacilityType] = (),
              period: Period | None = None, bbox: BBox | None = None) -> list[Site]: ...

    def site_by_key(self, key: str, viewer: Principal) -> Site | None: ...

    def site_visible(self, site_id: int, viewer: Principal) -> bool: ...

    def site_support(self, viewer: Principal) -> dict[int, tuple[int, int]]: ...

    def linked_points(self, site_id: int, viewer: Principal) -> list[dict]: ...

    def site_points(self) -> list[tuple[int, BaseGeometry | None]]: ...

    # -- testimonies --------------------------------------------------------------------------
    def add_testimonies(self, items: Sequence[Testimony],
                        truth: Sequence[tuple[int | None, str]] | None = None,
                        conn: Connection | None = None) -> UpsertResult: ...

    def testimony(self, testimony_id: int, viewer: Principal,
                  narrative: bool = True) -> dict | None: ...

    def testimony_rows(self, f: TestimonyFilter, viewer: Principal,
                       limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]: ...

    def testimony_visible(self, testimony_id: int, viewer: Principal) -> bool: ...

    def count_matching(self, f: TestimonyFilter, viewer: Principal,
                       at_most: int | None = None) -> int: ...

    def testimony_grid(self, f: TestimonyFilter, viewer: Principal,
                       cell: float) -> tuple[list[dict], int]: ...

    def count_testimonies(self, with_geometry: bool | None = None) -> int: ...

    def testimony_points(self) -> list[tuple[int, BaseGeometry | None]]: ...

    def synthetic_truth(self) -> dict[int, tuple[int | None, str]]: ...

    # -- imports and counts -------------------------------------------------------------------
    def record_batch(self, conn: Connection, kind: str, source: str, result: UpsertResult,
                     report: dict | None = None, started: datetime | None = None) -> int: ...

    def stats(self, viewer: Principal) -> dict[str, int]: ...


__all__ = ["Connection", "StoreLike"]
