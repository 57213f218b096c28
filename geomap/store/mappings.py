"""Named column mappings for imports (SQL stays here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from ..errors import InvalidInput, NotFound
from .schema import column_mappings

if TYPE_CHECKING:
    from .protocol import StoreLike

MAX_NAME = 100


class MappingStore:
    def __init__(self, store: StoreLike):
        self.store = store

    def names(self) -> list[str]:
        with self.store.read() as conn:
            return list(conn.execute(select(column_mappings.c.name)
                                     .order_by(column_mappings.c.name)).scalars())

    def get(self, name: str) -> dict[str, str]:
        with self.store.read() as conn:
            text = conn.execute(select(column_mappings.c.mapping)
                                .where(column_mappings.c.name == name)).scalar()
        if text is None:
            raise NotFound(f"no saved column mapping named {name!r}")
        return json.loads(text)

    def save(self, name: str, mapping: dict[str, str], actor: str) -> None:
        """Create or replace the mapping saved under `name` (audited)."""
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InvalidInput(f"mapping name {name[:MAX_NAME]!r}: give 1 to {MAX_NAME} "
                               "printable characters", field="mapping_name")
        text = json.dumps(mapping, ensure_ascii=False, sort_keys=True)
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.store.audited(actor, "mapping.save", name, {"fields": sorted(mapping)}) \
                as conn:
            done = conn.execute(update(column_mappings).where(column_mappings.c.name == name)
                                .values(mapping=text, created_by=actor, updated_at=now))
            if not done.rowcount:
                conn.execute(column_mappings.insert().values(
                    name=name, mapping=text, created_by=actor, updated_at=now))
