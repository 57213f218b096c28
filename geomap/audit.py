"""Append-only, hash-chained audit log.

Each entry stores the hash of the previous entry and its own hash over its canonical content
(id, time, actor, action, target, details, previous hash), so editing, removing or reordering
any entry breaks the chain at a place `verify` names. The newest id and hash are also written
to `audit.head` in the instance folder, so removing the newest entries is detected too.
Triggers refuse UPDATE and DELETE on the table (and TRUNCATE on PostgreSQL, where appends
also take an advisory lock so concurrent writers stay in one chain).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # Windows: no flock; a lone server process still writes heads in order
    fcntl = None

from .store import audit_chain
from .store.audit_log import lock_chain

if TYPE_CHECKING:
    from .store.protocol import Connection

GENESIS = "0" * 64


def canonical(entry_id: int, ts: str, actor: str, action: str, target: str | None,
              details: dict | None, prev_hash: str) -> bytes:
    return json.dumps(
        {"id": entry_id, "ts": ts, "actor": actor, "action": action, "target": target,
         "details": details or {}, "prev": prev_hash},
        sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def append(conn: Connection, actor: str, action: str, target: str | None = None,
           details: dict | None = None) -> tuple[int, str]:
    """Append one entry inside the caller's write transaction; returns (id, hash)."""
    lock_chain(conn)
    last = audit_chain.newest(conn)
    entry_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    h = hashlib.sha256(canonical(entry_id, ts, actor, action, target, details, prev)).hexdigest()
    audit_chain.insert(conn, entry_id=entry_id, ts=ts, actor=actor, action=action,
                       target=target,
                       details=json.dumps(details or {}, sort_keys=True, ensure_ascii=False),
                       prev_hash=prev, h=h)
    return entry_id, h


def _read_head(path: Path) -> int:
    """The entry id the head file names (0 when there is none or it cannot be read)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def write_head(path: Path, entry_id: int, h: str) -> None:
    """Advance the head file to (entry_id, h), never back.

    Writers commit in one order and reach this in another, so the head is only replaced by a
    newer entry (compare-and-advance under an exclusive lock on a sidecar file, so two
    processes cannot both read the old head and the older one win). Each write goes through
    its own temporary file in the same directory (a shared name let one writer's replace take
    the file from under another: FileNotFoundError after its change had committed), is synced
    to disk, then renamed over the head, so a reader sees the old head or the new one, whole.
    """
    with _locked(path.with_name(path.name + ".lock")):
        if _read_head(path) >= entry_id:
            return
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(f"{entry_id} {h}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Problem:
    entry_id: int | None
    message: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.message}" if self.entry_id else self.message


def verify(conn: Connection, head_file: Path | None = None) -> tuple[int, list[Problem]]:
    """(entries checked, problems). No problems means the chain is intact."""
    problems: list[Problem] = []
    prev, expected_id, n, last_id, last_hash = GENESIS, 1, 0, 0, GENESIS
    for r in audit_chain.in_order(conn):
        n += 1
        if r.id != expected_id:
            problems.append(Problem(r.id, f"expected entry {expected_id} here: entries "
                                           f"{expected_id}..{r.id - 1} were removed or moved"))
        if r.prev_hash != prev:
            problems.append(Problem(r.id, "does not follow the entry before it "
                                          "(an entry was removed, inserted or reordered)"))
        try:
            details = json.loads(r.details or "{}")
        except ValueError:
            details = {"unparseable": r.details}
        h = hashlib.sha256(canonical(r.id, r.ts, r.actor, r.action, r.target, details,
                                     r.prev_hash)).hexdigest()
        if h != r.hash:
            problems.append(Problem(r.id, "content was edited (its hash does not match)"))
        prev, expected_id, last_id, last_hash = r.hash, r.id + 1, r.id, r.hash
    if head_file is not None and head_file.exists():
        try:
            head_id, head_hash = head_file.read_text().split()
            head_id = int(head_id)
        except ValueError:
            problems.append(Problem(None, f"{head_file.name} is unreadable"))
        else:
            if head_id > last_id:
                problems.append(Problem(head_id, f"the newest entries were removed: the log "
                                                 f"ends at {last_id}, {head_file.name} says {head_id}"))
            elif head_id == last_id and head_hash != last_hash:
                problems.append(Problem(head_id, f"differs from the hash kept in {head_file.name}"))
    return n, problems


@dataclass
class Filter:
    """What the audit page and its export select: exact actor, exact action, and dates
    (inclusive, `YYYY-MM-DD`, UTC) as the entries' ISO times compare as text."""
    actor: str | None = None
    action: str | None = None
    since: str | None = None   # date
    until: str | None = None   # date, inclusive


# the queries behind the audit page and its export live with the other SQL
from .store.audit_log import actions, entries  # noqa: E402,F401
