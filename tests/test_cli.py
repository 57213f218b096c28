import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from geomap.cli import main
from geomap.config import load_settings
from geomap.store import Store
from geomap.store.engine import head_revision

from .conftest import ON_PG, TEST_DATA

DEMO_DELETES_SQLITE = "the demo asks before it deletes a SQLite file (a server database is reused)"


def _run(instance, *args):
    r = CliRunner().invoke(main, ["--instance", str(instance), *args], catch_exceptions=False)
    return r


def test_demo_builds_an_instance_and_keep_reuses_it(tmp_path):
    inst = tmp_path / "inst"
    r = _run(inst, "demo", "--testimonies", "250", "--no-serve")
    assert r.exit_code == 0, r.output
    assert "250 synthetic testimonies added" in r.output
    db = inst / "geomap.sqlite3"
    assert ON_PG or db.is_file()
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 250
    store.close()
    r = _run(inst, "demo", "--keep", "--no-serve")
    assert "reusing" in r.output
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 250
    store.close()
    if ON_PG:  # a server database is reused, never dropped (nor built twice over)
        assert "reusing" in _run(inst, "demo", "--no-serve").output
        r = _run(inst, "demo", "--fresh", "--no-serve")
        assert r.exit_code != 0 and "never drops" in r.output
        return
    # --fresh starts again from nothing (same seed, same data)
    r = _run(inst, "demo", "--fresh", "--testimonies", "100", "--no-serve")
    assert r.exit_code == 0, r.output
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 100
    store.close()


@pytest.mark.sqlite_only(reason=DEMO_DELETES_SQLITE)
def test_demo_on_an_instance_with_data_refuses_without_a_terminal_and_wipes_nothing(tmp_path):
    inst = tmp_path / "inst"
    assert _run(inst, "demo", "--testimonies", "30", "--no-serve").exit_code == 0
    db = inst / "geomap.sqlite3"
    before = db.stat().st_mtime_ns, db.stat().st_size
    r = _run(inst, "demo", "--testimonies", "10", "--no-serve")
    assert r.exit_code != 0
    assert "already holds data (30 testimonies" in r.output
    assert "--keep" in r.output and "--fresh" in r.output
    assert "Traceback" not in r.output
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 30
    store.close()
    r = _run(inst, "demo", "--keep", "--fresh", "--no-serve")
    assert r.exit_code != 0 and "choose one" in r.output


def _demo_on_a_terminal(inst, answer: bytes) -> tuple[int, str]:
    """`geomap demo --no-serve` with stdin and stdout on a pseudo-terminal, answering `answer`
    to its question."""
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "demo", "--testimonies", "5",
                             "--no-serve"], stdin=follower, stdout=follower, stderr=follower,
                            env=env)
    os.close(follower)
    out = b""
    try:
        while b"build the demo again?" not in out:
            chunk = os.read(leader, 4096)
            if not chunk:
                break
            out += chunk
        os.write(leader, answer)
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        code = proc.wait(timeout=120)
        os.close(leader)
    return code, out.decode(errors="replace")


@pytest.mark.sqlite_only(reason=DEMO_DELETES_SQLITE)
def test_demo_on_a_terminal_asks_and_keeps_the_data_by_default(tmp_path):
    inst = tmp_path / "inst"
    assert _run(inst, "demo", "--testimonies", "20", "--no-serve").exit_code == 0
    code, out = _demo_on_a_terminal(inst, b"\n")  # Enter: the default, keep
    assert code == 0, out
    assert "already holds data (20 testimonies" in out and "[y/N]" in out
    assert "keeping it" in out
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 20
    store.close()
    code, out = _demo_on_a_terminal(inst, b"y\n")
    assert code == 0, out
    store = Store.for_instance(load_settings(inst))
    assert store.count_testimonies() == 5
    store.close()


def test_instance_folder_comes_from_the_environment(tmp_path, monkeypatch):
    inst = tmp_path / "from-env"
    monkeypatch.setenv("GEOMAP_INSTANCE", str(inst))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    r = CliRunner().invoke(main, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert ON_PG or (inst / "geomap.sqlite3").is_file()
    assert Store.for_instance(load_settings(inst)).schema_revision() == head_revision()


def test_boundaries_import_command_reports_what_it_did(tmp_path):
    raw = TEST_DATA / "prk_admin1_natural_earth_raw.geojson"
    r = _run(tmp_path, "boundaries", "import", str(raw), "--level", "1")
    assert r.exit_code == 0
    assert "11 inserted, 0 updated, 1 skipped" in r.output
    assert "no name in name" in r.output
    r = _run(tmp_path, "boundaries", "import", str(raw), "--level", "1")
    assert "0 inserted, 11 updated" in r.output


def test_bad_input_is_a_clear_cli_error_not_a_traceback(tmp_path):
    r = CliRunner().invoke(main, ["--instance", str(tmp_path), "boundaries", "import",
                                  "/vsicurl/http://127.0.0.1:9/x.geojson", "--level", "1"])
    assert r.exit_code != 0
    assert "only local files are accepted" in r.output
    assert "Traceback" not in r.output


def test_a_non_loopback_host_is_warned_about(capsys):
    from geomap.cli import _check_host

    _check_host("127.0.0.1")
    assert capsys.readouterr().err == ""
    _check_host("0.0.0.0")
    assert "behind a TLS reverse proxy" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_the_app_on_loopback(tmp_path):
    inst = tmp_path / "inst"
    assert _run(inst, "demo", "--testimonies", "50", "--no-serve").exit_code == 0
    port = _free_port()
    env = {**os.environ, "GEOMAP_INSTANCE": str(inst)}
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login") as resp:
                    assert resp.status == 200
                    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
                break
            except urllib.error.HTTPError:
                raise
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats")
        assert e.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_demo_review_queue_and_grades_are_not_empty_at_first_sign_in(tmp_path):
    from geomap.store.links import LinkStore

    inst = tmp_path / "inst"
    r = _run(inst, "demo", "--testimonies", "300", "--no-serve")
    assert r.exit_code == 0, r.output
    assert "candidate links" in r.output
    store = Store.for_instance(load_settings(inst))
    try:
        assert LinkStore(store).all("candidate")  # something to review at once
    finally:
        store.close()
