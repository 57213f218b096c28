"""Field-key rotation: a new active key, every encrypted value re-encrypted under it in
batches, then the old keys retired. Safe to re-run after a crash: until the old keys are
retired they still decrypt whatever was not re-encrypted yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from .crypto import FieldCipher
from .store.schema import testimonies, users

BATCH = 2000


@dataclass
class RotationResult:
    new_key: int
    values: int
    retired: list[int]


def rotate_keys(store, actor: str,
                progress: Callable[[int, int], None] | None = None) -> RotationResult:
    new_key = store.keys.add_key()
    store.cipher = FieldCipher(store.keys)
    c = store.cipher
    done = 0
    with store.read() as conn:
        t_ids = [r.id for r in conn.execute(select(testimonies.c.id).order_by(testimonies.c.id))]
        u_ids = [r.id for r in conn.execute(select(users.c.id).where(users.c.totp_enc.is_not(None)))]
    total = len(t_ids) + len(u_ids)
    for i in range(0, len(t_ids), BATCH):
        chunk = t_ids[i : i + BATCH]
        with store.write() as conn:
            rows = conn.execute(select(testimonies.c.id, testimonies.c.key,
                                       testimonies.c.witness_enc, testimonies.c.narrative_enc)
                                .where(testimonies.c.id.in_(chunk))).all()
            for r in rows:
                values = {}
                for col, field in (("witness_enc", "witness_code"), ("narrative_enc", "narrative")):
                    blob = getattr(r, col)
                    if blob is not None and c.key_id(blob) != new_key:
                        values[col] = c.encrypt(c.decrypt(blob, "testimonies", r.key, field),
                                                "testimonies", r.key, field)
                if values:
                    conn.execute(update(testimonies).where(testimonies.c.id == r.id)
                                 .values(**values))
        done += len(chunk)
        if progress:
            progress(done, total)
    with store.write() as conn:
        for r in conn.execute(select(users.c.id, users.c.totp_enc)
                              .where(users.c.id.in_(u_ids))).all():
            secret = c.decrypt(r.totp_enc, "users", str(r.id), "totp")
            conn.execute(update(users).where(users.c.id == r.id)
                         .values(totp_enc=c.encrypt(secret, "users", str(r.id), "totp")))
    done += len(u_ids)
    if progress and u_ids:
        progress(done, total)
    retired = store.keys.retire_all_but_active()
    store.cipher = FieldCipher(store.keys)
    store.audit(actor, "keys.rotate", f"key:{new_key}", {"values": done, "retired": retired})
    return RotationResult(new_key, done, retired)
