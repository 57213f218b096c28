"""Uploaded files waiting between the mapping step and the import (no Flask here).

The client only ever holds a random id, never a path: the file lives in a private folder under
the instance (directory 0700, file 0600), is bound to the user who uploaded it, and is deleted
after the import or after MAX_AGE_S, whichever comes first.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import NotFound

MAX_AGE_S = 3600
_ID = re.compile(r"[A-Za-z0-9_-]{22}")


class PendingUploads:
    def __init__(self, root: Path):
        self.root = Path(root)

    def save(self, stream: BinaryIO, suffix: str, owner: str, name: str) -> str:
        """Keep an upload under a new random id; returns the id."""
        self.sweep()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        upload_id = secrets.token_urlsafe(16)
        d = self.root / upload_id
        d.mkdir(mode=0o700)
        fd = os.open(d / ("upload" + suffix), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(stream, fh, 1 << 20)
        fd = os.open(d / "meta.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"owner": owner, "name": name, "suffix": suffix}, fh)
        return upload_id

    def get(self, upload_id: str, owner: str) -> tuple[Path, str]:
        """(path, original name) of an upload of `owner`; NotFound for anything else (another
        user's upload, an expired or deleted one, an id that is not one of ours)."""
        if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        d = self.root / upload_id
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
            age = time.time() - d.stat().st_mtime
        except (OSError, ValueError):
            raise NotFound("no such upload (it may have expired: upload the file again)") \
                from None
        if meta.get("owner") != owner or age > MAX_AGE_S:
            if age > MAX_AGE_S:
                self.delete(upload_id)
            raise NotFound("no such upload (it may have expired: upload the file again)")
        return d / ("upload" + meta["suffix"]), meta["name"]

    def delete(self, upload_id: str) -> None:
        if _ID.fullmatch(upload_id or ""):
            shutil.rmtree(self.root / upload_id, ignore_errors=True)

    def sweep(self, max_age_s: float = MAX_AGE_S) -> int:
        """Delete uploads older than `max_age_s`; returns how many."""
        if not self.root.is_dir():
            return 0
        n, now = 0, time.time()
        for d in self.root.iterdir():
            try:
                if _ID.fullmatch(d.name) and now - d.stat().st_mtime > max_age_s:
                    shutil.rmtree(d, ignore_errors=True)
                    n += 1
            except OSError:
                continue
        return n
