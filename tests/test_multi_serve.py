"""Several `geomap serve` processes on one PostGIS database under load (issue 12, item 3).

Three real servers (waitress, `python -m geomap.cli serve`), each on its own loopback port,
share one instance folder (keys, uploads) and one PostgreSQL database, as behind a load
balancer without sticky sessions: every request goes to the next process. Signed-in users
then read the map API and dossiers, edit two "hot" sites and three "hot" testimonies (so two
processes edit the same record at the same moment), decide candidate links and import small
CSV files, from threads, for GEOMAP_LOAD_SECONDS (default 15) seconds. Afterwards: no 5xx and
no dropped connection; every accepted write is stored exactly once and in order (each audit
entry's "before" is the previous entry's "after", the stored value the last "after"); a
testimony edit that lost a race is a 409 and left no trace; the audit chain verifies.

Runs in the PostgreSQL pass of `make test` (GEOMAP_TEST_BACKEND=postgis). bench/multi_serve.py
uses the same harness to compare one process with three.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import requests

from .conftest import FIGURES, ON_PG, PASSWORD, csrf_from, instance_database, make_user

SECONDS = float(os.environ.get("GEOMAP_LOAD_SECONDS", "15"))
HOT_SITES = 2
HOT_TESTIMONIES = 3
BBOXES = ["124.0,37.5,131.0,43.1", "126.0,39.0,127.5,40.5", "129.5,41.5,130.5,42.5",
          "125.9,39.6,126.0,39.8"]
IMPORT_HEADER = ["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
                 "relationship", "narrative"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- servers ------------------------------------------------------------------------------------
@dataclass
class Farm:
    """`n` geomap serve processes on one instance folder and database."""

    inst: Path
    database_url: str
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, n: int, threads: int = 4) -> None:
        env = {**os.environ, "GEOMAP_INSTANCE": str(self.inst), "DATABASE_URL": self.database_url,
               "GEOMAP_PROXY_COUNT": "1", "GEOMAP_TRUSTED_PROXIES": "127.0.0.1"}
        for i in range(n):
            port = free_port()
            log = self.inst.parent / f"serve-{i}.log"
            with log.open("wb") as fh:  # a file, not a pipe nobody drains
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "geomap.cli", "serve", "--port", str(port),
                     "--threads", str(threads)], env=env, stdout=fh, stderr=subprocess.STDOUT))
            self.ports.append(port)
            self.logs.append(log)
        deadline = time.monotonic() + 60
        for port, proc in zip(self.ports, self.procs, strict=True):
            while True:
                try:
                    requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
                    break
                except requests.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"geomap serve on {port} did not start: "
                                           + self.log_text()[-2000:]) from None
                    time.sleep(0.2)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


# -- clients ------------------------------------------------------------------------------------
class Client:
    """One signed-in browser behind the proxy (X-Forwarded-Proto: https, so the __Host-
    cookies are set): keeps its cookies itself (requests will not send Secure cookies over
    plain http) and sends each request to the next server, as a balancer would."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.turn = random.randrange(len(ports))
        self.csrf = ""

    def next_port(self) -> int:
        self.turn = (self.turn + 1) % len(self.ports)
        return self.ports[self.turn]

    def request(self, method: str, path: str, port: int | None = None, **kw) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", **kw.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        url = f"http://127.0.0.1:{port or self.next_port()}{path}"
        r = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=60,
                              **kw)
        for c in r.cookies:
            if c.value:
                self.cookies[c.name] = c.value
            else:
                self.cookies.pop(c.name, None)
        self.http.cookies.clear()
        return r

    def sign_in(self, username: str, secret: str) -> Client:
        port = self.ports[0]  # one process for the sign-in; the session is in the database
        token = csrf_from(self.request("GET", "/login", port).text)
        r = self.request("POST", "/login", port, data={"username": username,
                                                       "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 302, r.text[:300]
        token = csrf_from(self.request("GET", "/login/mfa", port).text)
        r = self.request("POST", "/login/mfa", port,
                         data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
        assert r.status_code == 302, r.text[:300]
        # every process accepts the session and its CSRF token
        for p in self.ports:
            page = self.request("GET", "/", p)
            assert page.status_code == 200, (p, page.status_code)
            self.csrf = csrf_from(page.text)
        return self


# -- the instance -------------------------------------------------------------------------------
@dataclass
class World:
    """What the workload aims at, read from the store before the load starts."""

    sites: list[str]  # keys of the hot sites
    testimonies: list[int]  # ids of the hot testimonies
    links: list[tuple[int, int]]  # candidate (testimony_id, site_id) pairs to decide
    site_keys: list[str]  # every site, for dossier reads


def build_instance(store, n_testimonies: int = 300) -> World:
    from geomap.demo import load_reference_data, load_synthetic_testimonies
    from geomap.geocode import locate_and_link
    from geomap.policy import SYSTEM
    from geomap.store.links import LinkStore

    load_reference_data(store)
    load_synthetic_testimonies(store, n_testimonies, seed=12)
    locate_and_link(store, "test")
    sites = [s.key for s in store.sites(SYSTEM)]
    candidates = [(c["testimony_id"], c["site_id"]) for c in LinkStore(store).all("candidate")]
    rng = random.Random(3)
    hot_t = sorted({t for t, _ in candidates})[:HOT_TESTIMONIES]
    links = [c for c in candidates if c[0] not in hot_t]
    rng.shuffle(links)
    return World(sites=sites[:HOT_SITES], testimonies=hot_t, links=links[:12], site_keys=sites)


# -- the workload -------------------------------------------------------------------------------
@dataclass
class Outcome:
    kind: str
    status: int
    seconds: float
    target: str = ""
    token: str = ""
    error: str = ""


def _site_form(store, key: str, note: str) -> dict:
    """The site edit form as the page fills it, with a new note (geomap.site_edit.form_fields,
    the same function the page uses)."""
    from geomap.policy import SYSTEM
    from geomap.site_edit import form_fields

    f = form_fields(store.site_by_key(key, SYSTEM))
    data = {k: v for k, v in f.items() if k != "citations" and not isinstance(v, bool)}
    data.update({k: "on" for k in ("opened_approx", "closed_approx") if f.get(k)})
    data["note"] = note
    rows = []
    for i, c in enumerate(f["citations"]):
        rows += [(f"src-{i}-{k}", c[k]) for k in ("publisher", "title", "url", "date",
                                                  "accessed_via", "detail")]
        rows += [(f"src-{i}-supports", s) for s in c["supports"]]
        if c["point_source"]:
            rows.append((f"src-{i}-point_source", "on"))
    return {**data, "_rows": rows}


def _testimony_form(store, tid: int, place: str) -> list[tuple[str, str]]:
    from geomap.policy import SYSTEM
    from geomap.store.testimony_records import editable
    from geomap.web.testimonies import _form_values

    v = _form_values(editable(store, tid, SYSTEM))
    v["place_text"] = place
    return [(k, x) for k, x in v.items() if k != "violations"] + \
        [("violations", x) for x in v["violations"]]


def _csv(rows: list[list[str]]) -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(IMPORT_HEADER)
    w.writerows(rows)
    return buf.getvalue().encode()


def run_load(clients: list[Client], store, world: World, seconds: float,
             mix: dict[str, int] | None = None) -> list[Outcome]:
    """Threads (one per client) send a random mix of requests until `seconds` have passed."""
    mix = mix or {"read": 10, "dossier": 2, "site": 3, "testimony": 3, "link": 2, "import": 1}
    kinds = [k for k, w in mix.items() for _ in range(w)]
    out: list[Outcome] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one(c: Client, w: int, n: int, rng: random.Random) -> Outcome:
        kind = rng.choice(kinds)
        token = f"w{w}-{n}"
        t0 = time.perf_counter()
        target = ""
        if kind == "read":
            bbox = rng.choice(BBOXES)
            path = rng.choice([f"/api/testimonies?bbox={bbox}", f"/api/sites?bbox={bbox}",
                               "/api/stats", f"/api/testimonies?bbox={bbox}&grid=1"])
            r = c.request("GET", path)
        elif kind == "dossier":
            r = c.request("GET", f"/sites/{rng.choice(world.site_keys)}")
        elif kind == "site":
            target = rng.choice(world.sites)
            form = _site_form(store, target, f"load note {token}")
            rows = form.pop("_rows")
            r = c.request("POST", f"/sites/{target}/edit",
                          data=[*form.items(), *rows, ("csrf_token", c.csrf)])
        elif kind == "testimony":
            tid = rng.choice(world.testimonies)
            target = str(tid)
            r = c.request("POST", f"/testimonies/{tid}/edit",
                          data=[*_testimony_form(store, tid, f"place {token}"),
                                ("csrf_token", c.csrf)])
        elif kind == "link":
            tid, sid = rng.choice(world.links)
            target, token = f"{tid}:{sid}", rng.choice(["confirmed", "rejected"])
            r = c.request("POST", "/api/links/decide",
                          json={"testimony_id": tid, "site_id": sid, "status": token},
                          headers={"X-CSRFToken": c.csrf})
        else:  # import: upload, then the mapping step (on whichever process comes next)
            rows = [[f"LOAD-{token}-{i}", "Hoeryong", f"{42.40 + i / 1000:.4f}", "129.75",
                     "500", "1999", "torture", "detained", f"[SYNTHETIC] load {token} {i}"]
                    for i in range(5)]
            r = c.request("POST", "/import/", data={"csrf_token": c.csrf},
                          files={"file": (f"{token}.csv", _csv(rows), "text/csv")})
            m = re.search(r'action="(/import/map/[^"]+)"', r.text) if r.status_code == 200 else None
            if m:
                form = [("csrf_token", c.csrf)] + [(f"col-{h}", h) for h in IMPORT_HEADER
                                                   if h != "place"] + [("col-place_text", "place")]
                r = c.request("POST", m[1], data=form)
        return Outcome(kind, r.status_code, time.perf_counter() - t0, target, token,
                       "" if r.status_code < 500 else r.text[:500])

    def worker(w: int, c: Client) -> None:
        rng, n = random.Random(w), 0
        while time.monotonic() < stop_at:
            n += 1
            try:
                o = one(c, w, n, rng)
            except requests.RequestException as e:  # a dropped connection counts as an error
                o = Outcome("error", 599, 0.0, error=repr(e))
            with lock:
                out.append(o)

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


# -- the test -----------------------------------------------------------------------------------
pytestmark = pytest.mark.skipif(not ON_PG, reason="runs in the PostgreSQL pass of make test "
                                                  "(GEOMAP_TEST_BACKEND=postgis)")


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    inst = tmp_path_factory.mktemp("multi-serve") / "instance"
    inst.mkdir(mode=0o700)
    url = instance_database(inst)
    store = Store.for_instance(load_settings(inst))
    world = build_instance(store)
    users = [make_user(store, "researcher") for _ in range(4)]
    f = Farm(inst, url)
    f.start(3)
    try:
        clients = [Client(f.ports).sign_in(u.username, secret) for u, secret, _ in users]
        yield f, store, world, clients
    finally:
        f.stop()
        store.close()


def _audit(store, action: str) -> list[tuple[str, dict]]:
    from sqlalchemy import select

    from geomap.store.schema import audit_log

    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.target, audit_log.c.details)
                            .where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [(t, json.loads(d)) for t, d in rows]


def test_three_servers_on_one_postgis_database_lose_nothing_under_load(farm):
    from sqlalchemy import select

    from geomap import audit
    from geomap.policy import SYSTEM
    from geomap.store.schema import audit_log, links

    f, store, world, clients = farm
    before = store.count_testimonies()
    out = run_load(clients, store, world, SECONDS)
    by = Counter((o.kind, o.status) for o in out)
    ms = [o.seconds * 1000 for o in out]
    FIGURES.append(f"3 geomap serve processes on one PostGIS database: {len(out)} requests in "
                   f"{SECONDS:.0f} s (p50 {percentile(ms, .5):.0f} ms, p95 "
                   f"{percentile(ms, .95):.0f} ms), by kind and status "
                   f"{dict(sorted(by.items()))}")

    # no 5xx, no dropped connection, nothing unexpected
    assert [o for o in out if o.status >= 500] == []
    allowed = {"read": {200}, "dossier": {200}, "site": {303}, "testimony": {303, 409},
               "link": {200}, "import": {200}}
    assert [(o.kind, o.status) for o in out if o.status not in allowed[o.kind]] == []
    assert b"Traceback" not in f.log_text().encode()
    for kind in ("read", "site", "testimony", "link", "import"):
        assert by[(kind, min(allowed[kind]))] > 0, kind  # each kind did happen

    # site edits: every accepted one audited once, in an unbroken chain per site
    accepted = {o.token for o in out if o.kind == "site" and o.status == 303}
    chains: dict[str, list[dict]] = defaultdict(list)
    for target, d in _audit(store, "site.update"):
        chains[target].append(d)
    seen = Counter()
    for key, entries in chains.items():
        notes = [d["after"].get("note") for d in entries]
        seen.update(n.removeprefix("load note ") for n in notes if n)
        for prev, d in zip(entries, entries[1:], strict=False):
            if "note" in d["before"]:
                assert d["before"]["note"] == prev["after"].get("note", d["before"]["note"])
        last = next(n for n in reversed(notes) if n)
        assert store.site_by_key(key, SYSTEM).note == last  # the stored value: the last write
    assert set(seen) == accepted and all(v == 1 for v in seen.values())

    # testimony edits: accepted ones applied once in order; refused ones left nothing
    ok = {o.token for o in out if o.kind == "testimony" and o.status == 303}
    refused = {o.token for o in out if o.kind == "testimony" and o.status == 409}
    per_t: dict[str, list[str]] = defaultdict(list)
    for target, d in _audit(store, "testimony.update"):
        if "place_text" in d["after"]:
            if per_t[target]:
                assert d["before"]["place_text"] == per_t[target][-1]  # no update lost
            per_t[target].append(d["after"]["place_text"])
    written = Counter(p.removeprefix("place ") for ps in per_t.values() for p in ps)
    assert set(written) == ok and all(v == 1 for v in written.values())
    assert not refused & set(written)
    for target, places in per_t.items():
        tid = int(target.removeprefix("testimony:"))
        assert store.testimony(tid, SYSTEM)["place_text"] == places[-1]

    # link decisions: the stored status is the last decision's, each audited once
    decisions = [o for o in out if o.kind == "link" and o.status == 200]
    logged = _audit(store, "link.confirmed") + _audit(store, "link.rejected")
    assert len(logged) == len(decisions)
    last: dict[tuple[int, int], str] = {}
    with store.read() as conn:
        entries = conn.execute(select(audit_log.c.action, audit_log.c.target,
                                      audit_log.c.details)
                               .where(audit_log.c.action.in_(["link.confirmed", "link.rejected"]))
                               .order_by(audit_log.c.id)).all()
        for action, target, details in entries:
            pair = (int(target.removeprefix("testimony:")), json.loads(details)["site_id"])
            last[pair] = action.removeprefix("link.")
        for (tid, sid), status in last.items():
            stored = conn.execute(select(links.c.status).where(
                links.c.testimony_id == tid, links.c.site_id == sid)).scalar_one()
            assert stored == status

    # imports: every row of every accepted file stored exactly once
    imported = [o.token for o in out if o.kind == "import" and o.status == 200]
    rows, _ = store.testimony_rows(_no_geometry(), SYSTEM)
    codes = Counter(r["witness_code"] for r in rows if r["witness_code"].startswith("LOAD-"))
    assert set(codes) == {f"LOAD-{t}-{i}" for t in imported for i in range(5)}
    assert set(codes.values()) == {1}
    assert store.count_testimonies() == before + 5 * len(imported)

    # the audit chain is whole (library call, and the command an operator runs)
    with store.read() as conn:
        n, problems = audit.verify(conn, f.inst / "audit.head")
    assert problems == [] and n > len(out) // 4
    r = subprocess.run([sys.executable, "-m", "geomap.cli", "--instance", str(f.inst), "audit",
                        "verify"], env={**os.environ, "DATABASE_URL": f.database_url},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _no_geometry():
    from geomap.store import TestimonyFilter

    return TestimonyFilter(with_geometry=False)
