"""Instance keys: generated on first run into the instance folder (never in the database,
never committed, never logged), readable by the owner only.

- `secret_key`: signs CSRF tokens (Flask's SECRET_KEY);
- `field-keys.json`: AES-256-GCM keys for field encryption, by key id, with the active one
  named; old keys stay until `geomap keys rotate` has re-encrypted everything;
- `index_key` (in the same JSON): HMAC key for blind indexes (e.g. counting witnesses without
  decrypting their codes) and content-derived record keys.

The keys_file setting (GEOMAP_KEYS_FILE) may point the field keys elsewhere (a mounted secret,
for example).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GeomapError


class KeyError_(GeomapError):
    pass


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 atomically (never world-readable, even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


@dataclass
class KeyRing:
    field_keys: dict[int, bytes]
    active: int
    index_key: bytes
    secret_key: bytes
    path: Path | None = field(default=None, repr=False)

    @classmethod
    def load_or_create(cls, keys_dir: Path, keys_file: Path | None = None) -> KeyRing:
        """The keys in `keys_dir` (created on first run); the field keys in `keys_file` when
        set (Settings.keys_file, GEOMAP_KEYS_FILE)."""
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        secret_path = keys_dir / "secret_key"
        if not secret_path.exists():
            _write_private(secret_path, secrets.token_bytes(32))
        path = Path(keys_file or keys_dir / "field-keys.json")
        if not path.exists():
            _write_private(path, json.dumps({
                "active": 1, "keys": {"1": _b64(secrets.token_bytes(32))},
                "index_key": _b64(secrets.token_bytes(32)),
            }).encode())
        try:
            doc = json.loads(path.read_text())
            ring = cls(
                field_keys={int(k): base64.b64decode(v) for k, v in doc["keys"].items()},
                active=int(doc["active"]), index_key=base64.b64decode(doc["index_key"]),
                secret_key=secret_path.read_bytes(), path=path,
            )
        except (OSError, ValueError, KeyError) as e:
            raise KeyError_(f"cannot read the key file {path}: {e}") from None
        if ring.active not in ring.field_keys or any(len(k) != 32 for k in ring.field_keys.values()):
            raise KeyError_(f"{path}: the active key is missing or a key is not 256 bits")
        return ring

    def add_key(self) -> int:
        """A new active key (old ones kept for decryption until retired)."""
        new_id = max(self.field_keys) + 1
        self.field_keys[new_id] = secrets.token_bytes(32)
        self.active = new_id
        self.save()
        return new_id

    def retire_all_but_active(self) -> list[int]:
        old = [k for k in self.field_keys if k != self.active]
        for k in old:
            del self.field_keys[k]
        self.save()
        return old

    def save(self) -> None:
        if self.path is None:
            raise KeyError_("this key ring has no file to save to")
        _write_private(self.path, json.dumps({
            "active": self.active,
            "keys": {str(k): _b64(v) for k, v in sorted(self.field_keys.items())},
            "index_key": _b64(self.index_key),
        }).encode())
