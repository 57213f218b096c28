"""Who may do and see what: the permission matrix, in one place.

Every read of testimonies and sites goes through a `Principal`; the store filters records by
the tiers a role may see (a record outside them does not exist for that caller: 404) and the
field rules decide who sees witness codes and narratives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .model import Tier


class Role(StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    ANALYST = "analyst"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ_MAP = "read_map"                  # sites, testimony locations, boundaries
    READ_WITNESS_CODES = "read_witness_codes"
    READ_NARRATIVES = "read_narratives"
    EDIT = "edit"                          # create / edit / delete sites and testimonies
    LINK = "link"                          # decide testimony-site links
    PUBLISH = "publish"                    # public maps, embeds, exports marked public
    EXPORT = "export"
    MANAGE_IMAGERY = "manage_imagery"
    MANAGE_USERS = "manage_users"


R, P = Role, Permission
MATRIX: dict[Role, frozenset[Permission]] = {
    R.ADMIN: frozenset(P),
    R.RESEARCHER: frozenset({P.READ_MAP, P.READ_WITNESS_CODES, P.READ_NARRATIVES, P.EDIT,
                             P.LINK, P.PUBLISH, P.EXPORT}),
    R.ANALYST: frozenset({P.READ_MAP, P.READ_WITNESS_CODES, P.MANAGE_IMAGERY}),
    R.VIEWER: frozenset({P.READ_MAP}),
}
# Internal records are for staff with a working role; a viewer (e.g. a partner organisation's
# reader) sees partner and public records only.
VISIBLE_TIERS: dict[Role, tuple[Tier, ...]] = {
    R.ADMIN: tuple(Tier), R.RESEARCHER: tuple(Tier), R.ANALYST: tuple(Tier),
    R.VIEWER: (Tier.PARTNER, Tier.PUBLIC),
}


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in MATRIX[self.role]

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return VISIBLE_TIERS[self.role]


# The CLI acts with full rights: whoever runs it holds the database and the keys already.
SYSTEM = Principal(None, "system", Role.ADMIN)


def matrix_markdown() -> str:
    """The matrix as a Markdown table (docs/security.md embeds it; a test keeps them equal)."""
    head = "| permission | " + " | ".join(r.value for r in Role) + " |"
    sep = "|---|" + "---|" * len(Role)
    rows = [f"| {p.value} | " + " | ".join("yes" if p in MATRIX[r] else "-" for r in Role) + " |"
            for p in Permission]
    tiers = "| visible tiers | " + " | ".join(
        ", ".join(t.value for t in VISIBLE_TIERS[r]) for r in Role) + " |"
    return "\n".join([head, sep, *rows, tiers])
