"""Field-key rotation: a new active key, every encrypted value re-encrypted under it in
batches, then the old keys retired. Safe to re-run after a crash: until the old keys are
retired they still decrypt whatever was not re-encrypted yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .crypto import FieldCipher
from .store import rotation as sql

if TYPE_CHECKING:
    from .store.protocol import StoreLike

BATCH = 2000


@dataclass
class RotationResult:
    new_key: int
    values: int
    retired: list[int]


def rotate_keys(store: StoreLike, actor: str,
                progress: Callable[[int, int], None] | None = None) -> RotationResult:
    new_key = store.keys.add_key()
    store.cipher = FieldCipher(store.keys)
    c = store.cipher
    done = 0
    with store.read() as conn:
        t_ids = sql.testimony_ids(conn)
        u_ids = sql.totp_user_ids(conn)
    total = len(t_ids) + len(u_ids)
    for i in range(0, len(t_ids), BATCH):
        chunk = t_ids[i : i + BATCH]
        with store.write() as conn:
            for r in sql.testimony_blobs(conn, chunk):
                values = {}
                for col, field in (("witness_enc", "witness_code"), ("narrative_enc", "narrative")):
                    blob = getattr(r, col)
                    if blob is not None and c.key_id(blob) != new_key:
                        values[col] = c.encrypt(c.decrypt(blob, "testimonies", r.key, field),
                                                "testimonies", r.key, field)
                if values:
                    sql.set_testimony_blobs(conn, r.id, values)
        done += len(chunk)
        if progress:
            progress(done, total)
    with store.write() as conn:
        for r in sql.totp_blobs(conn, u_ids):
            secret = c.decrypt(r.totp_enc, "users", str(r.id), "totp")
            sql.set_totp_blob(conn, r.id, c.encrypt(secret, "users", str(r.id), "totp"))
    done += len(u_ids)
    if progress and u_ids:
        progress(done, total)
    done += _rotate_annotation_notes(store, new_key)
    retired = store.keys.retire_all_but_active()
    store.cipher = FieldCipher(store.keys)
    store.audit(actor, "keys.rotate", f"key:{new_key}", {"values": done, "retired": retired})
    return RotationResult(new_key, done, retired)


def _rotate_annotation_notes(store: StoreLike, new_key: int) -> int:
    """Imagery annotations' notes (every version's) under the new key; how many."""
    from .store import annotation_records as ann

    c, n = store.cipher, 0
    with store.read() as conn:
        ids = ann.note_version_ids(conn)
    for i in range(0, len(ids), BATCH):
        with store.write() as conn:
            for r in ann.note_blobs(conn, ids[i : i + BATCH]):
                if c.key_id(r.note_enc) == new_key:
                    continue
                record = f"{r.annotation_id}:{r.version}"
                note = c.decrypt(r.note_enc, "annotation_versions", record, "note")
                ann.set_note_blob(conn, r.id, c.encrypt(note, "annotation_versions", record,
                                                        "note"))
                n += 1
    return n
