"""Field encryption at rest: AES-256-GCM with a fresh 96-bit nonce per value, the ciphertext
bound to its table, record and field through the associated data, so a value copied into
another row or column fails to decrypt. Blind indexes are keyed HMACs.

Stored form: b"\\x01" | key id (4 bytes, big endian) | nonce (12) | ciphertext+tag.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import GeomapError
from .keys import KeyRing

VERSION = b"\x01"


class DecryptionError(GeomapError):
    """A value that does not decrypt under its own table/record/field: tampered or moved."""


def _aad(table: str, record: str, field: str) -> bytes:
    return f"geomap|{table}|{record}|{field}".encode()


class FieldCipher:
    def __init__(self, keys: KeyRing):
        self.keys = keys
        self._aead = {kid: AESGCM(k) for kid, k in keys.field_keys.items()}
        self._index_mac: tuple[bytes, hmac.HMAC] | None = None

    def encrypt(self, value: str | None, table: str, record: str, field: str) -> bytes | None:
        if value is None:
            return None
        kid = self.keys.active
        nonce = os.urandom(12)
        ct = self._aead[kid].encrypt(nonce, value.encode("utf-8"), _aad(table, record, field))
        return VERSION + kid.to_bytes(4, "big") + nonce + ct

    def encrypt_many(self, values: Sequence[str | None], table: str, records: Sequence[str],
                     field: str) -> list[bytes | None]:
        """`encrypt` of each value under its own record: the same scheme and stored form, with
        the fresh random nonces drawn from the OS in one call (a bulk import's thousands of
        values pay one system call, not one each); no nonce is used twice."""
        kid = self.keys.active
        aead, head = self._aead[kid], VERSION + kid.to_bytes(4, "big")
        nonces = os.urandom(12 * len(values))
        prefix = f"geomap|{table}|"
        suffix = f"|{field}"
        out: list[bytes | None] = []
        for i, (value, record) in enumerate(zip(values, records, strict=True)):
            if value is None:
                out.append(None)
                continue
            nonce = nonces[12 * i:12 * i + 12]
            ct = aead.encrypt(nonce, value.encode("utf-8"), (prefix + record + suffix).encode())
            out.append(head + nonce + ct)
        return out

    def decrypt(self, blob: bytes | None, table: str, record: str, field: str) -> str | None:
        if blob is None:
            return None
        if len(blob) < 1 + 4 + 12 + 16 or blob[:1] != VERSION:
            raise DecryptionError(f"{table}.{field} of {record}: not a geomap ciphertext")
        kid = int.from_bytes(blob[1:5], "big")
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"{table}.{field} of {record}: key {kid} is not in the key ring")
        try:
            pt = aead.decrypt(blob[5:17], blob[17:], _aad(table, record, field))
        except InvalidTag:
            raise DecryptionError(
                f"{table}.{field} of {record}: does not decrypt (tampered, or copied from "
                "another record or field)") from None
        return pt.decode("utf-8")

    def key_id(self, blob: bytes) -> int:
        return int.from_bytes(blob[1:5], "big")

    def blind_index(self, value: str, purpose: str) -> str:
        """Equal inputs give equal outputs, without revealing the input (keyed HMAC)."""
        key = self.keys.index_key
        if self._index_mac is None or self._index_mac[0] is not key:
            # the keyed state once (HMAC's key setup is half the cost of a short input)
            self._index_mac = (key, hmac.new(key, digestmod=hashlib.sha256))
        mac = self._index_mac[1].copy()
        mac.update(f"{purpose}|{value}".encode())
        return mac.hexdigest()[:32]
