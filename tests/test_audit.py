"""The audit head under concurrent writers: many processes, one real SQLite file."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path

from geomap import audit
from geomap.config import load_settings
from geomap.keys import KeyRing
from geomap.store import Store

# The figure from issue 9 (16 writers x 200 transactions: ~4 s here); the old shared temporary
# file failed 6 of these 3,200 writes. GEOMAP_AUDIT_WRITERS / _TRANSACTIONS change it by hand.
WRITERS = int(os.environ.get("GEOMAP_AUDIT_WRITERS", "16"))
TRANSACTIONS = int(os.environ.get("GEOMAP_AUDIT_TRANSACTIONS", "200"))


def _writer(instance: str, n: int, worker: int, errors) -> None:
    settings = load_settings(Path(instance))
    keys = KeyRing.load_or_create(settings.instance_path / "keys")
    store = Store(settings.database_url, keys, migrate=False,
                  audit_head=settings.instance_path / "audit.head")
    try:
        for i in range(n):
            try:
                store.audit(f"writer-{worker}", "thing.edit", f"thing:{worker}:{i}")
            except Exception:  # every failure is counted, with what it was
                errors.put(traceback.format_exc(limit=3))
    finally:
        store.close()


def test_concurrent_audited_writes_keep_the_head_at_the_newest_entry(tmp_path):
    settings = load_settings(tmp_path / "instance")
    store = Store.for_instance(settings)  # creates the schema and keys once
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(settings.instance_path), TRANSACTIONS, w,
                                                errors)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert failures == [], f"{len(failures)} failed writes; first:\n{failures[0]}"
    with store.read() as conn:
        n, problems = audit.verify(conn, store.audit_head)
        newest = conn.exec_driver_sql("SELECT id, hash FROM audit_log "
                                      "ORDER BY id DESC LIMIT 1").one()
    store.close()
    assert n == WRITERS * TRANSACTIONS and problems == []
    assert store.audit_head.read_text().split() == [str(newest.id), newest.hash]
    assert [p.name for p in store.audit_head.parent.iterdir()
            if p.name.startswith("audit.head") and p.name != "audit.head.lock"] == ["audit.head"]
