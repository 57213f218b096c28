"""SQL of field-key rotation (geomap.rotation): which rows hold encrypted values, reading
them and writing them back re-encrypted. Each function runs on the caller's connection, so
the library decides the transactions (one per batch)."""

from __future__ import annotations

from sqlalchemy import Connection, Row, select, update

from .schema import testimonies, users


def testimony_ids(conn: Connection) -> list[int]:
    return [r.id for r in conn.execute(select(testimonies.c.id).order_by(testimonies.c.id))]


def totp_user_ids(conn: Connection) -> list[int]:
    """Users with a TOTP secret (the only encrypted column of users)."""
    return [r.id for r in conn.execute(select(users.c.id).where(users.c.totp_enc.is_not(None)))]


def testimony_blobs(conn: Connection, ids: list[int]) -> list[Row]:
    """(id, key, witness_enc, narrative_enc) of these testimonies."""
    return conn.execute(select(testimonies.c.id, testimonies.c.key,
                               testimonies.c.witness_enc, testimonies.c.narrative_enc)
                        .where(testimonies.c.id.in_(ids))).all()


def set_testimony_blobs(conn: Connection, testimony_id: int, values: dict[str, bytes]) -> None:
    conn.execute(update(testimonies).where(testimonies.c.id == testimony_id).values(**values))


def totp_blobs(conn: Connection, ids: list[int]) -> list[Row]:
    """(id, totp_enc) of these users."""
    return conn.execute(select(users.c.id, users.c.totp_enc).where(users.c.id.in_(ids))).all()


def set_totp_blob(conn: Connection, user_id: int, blob: bytes) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(totp_enc=blob))
