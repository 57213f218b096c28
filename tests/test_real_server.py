"""The real server (issue 9): `geomap serve` (waitress) as a separate process behind a
forwarding proxy, spoken to over raw sockets (http.client refuses some malformed requests).

One server for the module: GEOMAP_PROXY_COUNT=1, the proxy trusted at 127.0.0.1 only (so a
client connecting from 127.0.0.2, also loopback on Linux, is an untrusted peer), uploads
limited to 1 MB so the body limits can be reached cheaply."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from urllib.parse import quote

import pyotp
import pytest
from sqlalchemy import text

from geomap.config import load_settings
from geomap.store import Store

from .conftest import PASSWORD, make_user

PROXY = "127.0.0.1"
UNTRUSTED = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        out = {}
        for n, v in self.headers:
            if n == "set-cookie":
                name, _, rest = v.partition("=")
                out[name] = rest.split(";")[0]
        return out


def send(port: int, request: bytes, source: str = PROXY, timeout: float = 20) -> Response:
    """One request on a fresh connection (Connection: close), from the `source` address."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return Response(b"".join(chunks))


class Browser:
    """A client behind the proxy: keeps its cookies, sends what the proxy would add."""

    def __init__(self, port: int, forwarded_for: str | None = None, proto: str | None = "https",
                 source: str = PROXY):
        self.port, self.source = port, source
        self.forwarded = [("X-Forwarded-For", forwarded_for)] if forwarded_for else []
        if proto:
            self.forwarded.append(("X-Forwarded-Proto", proto))
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes = b"",
                headers: list[tuple[str, str]] | None = None) -> Response:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                 "Connection: close", *(f"{k}: {v}" for k, v in self.forwarded),
                 *(f"{k}: {v}" for k, v in headers or [])]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method == "POST":
            lines += ["Content-Type: application/x-www-form-urlencoded",
                      f"Content-Length: {len(body)}"]
        r = send(self.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body,
                 self.source)
        for k, v in r.cookies().items():
            if v:
                self.cookies[k] = v
            else:
                self.cookies.pop(k, None)
        return r

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Response:
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in form.items()).encode()
        return self.request("POST", path, body)

    def csrf(self, path: str) -> str:
        r = self.get(path)
        assert r.status == 200, (path, r.status)
        return re.search(rb'name="csrf_token" value="([^"]+)"', r.body)[1].decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    inst = tmp_path_factory.mktemp("real-server") / "instance"
    settings = load_settings(inst)
    store = Store.for_instance(settings)  # schema and keys, before the server starts
    port = _free_port()
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst), "GEOMAP_PROXY_COUNT": "1",
           "GEOMAP_TRUSTED_PROXIES": PROXY, "GEOMAP_MAX_UPLOAD_MB": "1"}
    env.pop("DATABASE_URL", None)
    log = open(inst.parent / "server.log", "w+b")  # a file, not a pipe nobody drains
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "serve", "--port", str(port),
                             "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                send(port, b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.2)
        yield port, store, inst / "geomap.sqlite3"
    finally:
        proc.terminate()
        proc.wait(10)
        store.close()
        log.seek(0)
        out = log.read()
        log.close()
        # nothing the probes sent may have crashed a request
        assert b"Traceback" not in out, out.decode(errors="replace")[-3000:]


def _audit(store, action: str) -> list[dict]:
    with store.read() as c:  # portable SQL: the suite runs on PostgreSQL too
        return [json.loads(d) for (d,) in c.execute(text(
            "SELECT details FROM audit_log WHERE action = :a ORDER BY id"), {"a": action})]


def _attempts(store, username: str) -> list[tuple[str, str]]:
    with store.read() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT address, outcome FROM login_attempts WHERE username = :u"), {"u": username})]


# -- item 10: behind the proxy ----------------------------------------------------------------
def test_forwarded_clients_have_separate_rate_limit_buckets_behind_the_proxy(server):
    port, db, _ = server  # db: the store
    noisy, other = Browser(port, "203.0.113.7"), Browser(port, "203.0.113.8")
    token = noisy.csrf("/login")
    statuses = [noisy.post("/login", {"username": f"nobody-{i}", "password": "wrong",
                                      "csrf_token": token}).status for i in range(11)]
    assert statuses == [401] * 10 + [429]  # the address bucket (ten accounts, one address)
    # another client behind the same proxy has its own bucket
    token = other.csrf("/login")
    assert other.post("/login", {"username": "nobody-x", "password": "wrong",
                                 "csrf_token": token}).status == 401
    # and the audit log and login_attempts record the client, not the proxy
    assert _attempts(db, "nobody-0") == [("203.0.113.7", "failure")]
    assert _attempts(db, "nobody-x") == [("203.0.113.8", "failure")]
    addresses = {d["address"] for d in _audit(db, "signin.failed")}
    assert {"203.0.113.7", "203.0.113.8"} <= addresses and PROXY not in addresses


def test_forwarded_https_brings_hsts_behind_the_proxy(server):
    port, *_ = server
    assert "max-age=" in Browser(port, "203.0.113.9", "https").get("/login") \
        .header("Strict-Transport-Security")
    assert Browser(port, "203.0.113.9", "http").get("/login") \
        .header("Strict-Transport-Security") is None


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(server):
    port, db, _ = server  # db: the store
    direct = Browser(port, "198.51.100.99", "https", source=UNTRUSTED)
    r = direct.get("/login")
    assert r.status == 200 and r.header("Strict-Transport-Security") is None
    token = re.search(rb'name="csrf_token" value="([^"]+)"', r.body)[1].decode()
    assert direct.post("/login", {"username": "spoofer", "password": "wrong",
                                  "csrf_token": token}).status == 401
    assert _attempts(db, "spoofer") == [(UNTRUSTED, "failure")]


# -- item 15: request metadata Flask cannot use -------------------------------------------------
@pytest.mark.parametrize("host", [b"..", b"a..b", b"x" * 300, b".", b"[::1"])
@pytest.mark.parametrize("path", [b"/", b"/login", b"/api/stats", b"/no-such-page"])
def test_an_unreadable_host_header_is_a_400_not_a_500(server, host, path):
    port, *_ = server
    r = send(port, b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close"
             b"\r\nX-Forwarded-Proto: https\r\n\r\n")
    assert r.status < 500
    if host in (b"..", b"a..b", b"."):
        assert r.status == 400
        assert r.header("Content-Security-Policy")


def test_an_unreadable_forwarded_host_is_a_400_not_a_500(server):
    port, *_ = server
    r = send(port, b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: ..\r\n"
             b"X-Forwarded-For: 203.0.113.20\r\nConnection: close\r\n\r\n")
    assert r.status == 400


@pytest.mark.parametrize("bad_next", ["/%0d%0aSet-Cookie:%20evil=1", "/%250d%250aX-Evil:%201",
                                      "//evil.example/", "/%5Cevil.example",
                                      "https://evil.example/", "/\t/evil.example"])
def test_next_with_crlf_is_refused_before_the_code_is_used(server, bad_next):
    port, store, db = server
    user, secret, _ = make_user(store)
    b = Browser(port, "203.0.113.30")
    path = "/login?next=" + quote(bad_next, safe="")
    token = b.csrf(path)
    r = b.post(path, {"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert r.status == 302 and r.header("Location").endswith("/login/mfa")
    token = b.csrf("/login/mfa")
    r = b.post("/login/mfa", {"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    # the code signed in (not burnt by an error) and led to the map, nowhere else
    assert r.status == 302, r.body[:300]
    assert r.header("Location") == "/"
    assert "evil" not in " ".join(v for _, v in r.headers)
    assert b.get("/api/stats").status == 200


def test_a_safe_next_survives_sign_in(server):
    port, store, _ = server
    user, secret, _ = make_user(store)
    b = Browser(port, "203.0.113.31")
    r = b.get("/imagery/?site=1")
    assert r.status == 302
    path = r.header("Location")
    token = b.csrf(path)
    b.post(path, {"username": user.username, "password": PASSWORD, "csrf_token": token})
    token = b.csrf("/login/mfa")
    r = b.post("/login/mfa", {"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert r.header("Location") == "/imagery/?site=1"


# -- item 19: one body limit ----------------------------------------------------------------------
def test_an_upload_over_the_limit_gets_flasks_413_with_the_security_headers(server):
    port, *_ = server
    b = Browser(port, "203.0.113.40")
    body = b"x=" + b"a" * (2 * 1024 * 1024 + 512 * 1024)  # over 1 MB + form overhead
    r = b.request("POST", "/login", body)
    assert r.status == 413
    assert "nonce-" in r.header("Content-Security-Policy")  # Flask's own, per request
    assert b"generated by waitress" not in r.body


def test_a_body_far_over_the_limit_is_refused_at_once_with_security_headers(server):
    port, *_ = server
    # waitress's limit follows GEOMAP_MAX_UPLOAD_MB: 64 MB are refused from the headers alone
    # (with its old fixed 1 GiB limit it would wait for the body)
    r = send(port, b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 67108864\r\n\r\nx=1")
    assert r.status == 413
    assert "default-src 'none'" in r.header("Content-Security-Policy")
    assert r.header("X-Content-Type-Options") == "nosniff"
