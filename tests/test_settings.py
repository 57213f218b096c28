"""Settings declared once (geomap/config.py SETTINGS): defaults, the instance's settings.toml,
the environment over the file, clear errors naming the variable or key, the file's permissions,
`geomap settings` and the table in docs/deployment.md (issue 12, item 4)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from geomap.cli import main
from geomap.config import (
    SECRET_MASK,
    SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    settings_markdown,
)
from geomap.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """None of the settings' variables from the environment running the tests."""
    for s in SETTINGS:
        if s.name != "data":  # read at import; the test run's value stays
            monkeypatch.delenv(s.env, raising=False)


def _file(inst: Path, text: str, mode: int = 0o600) -> Path:
    inst.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = inst / "settings.toml"
    path.write_text(text, "utf-8")
    path.chmod(mode)
    return path


def test_the_table_and_the_settings_class_name_the_same_settings():
    fields = {f.name for f in dataclasses.fields(Settings)} - {"sources"}
    assert {s.attribute for s in SETTINGS} == fields
    assert len({s.name for s in SETTINGS}) == len({s.env for s in SETTINGS}) == len(SETTINGS)
    for s in SETTINGS:
        # the file key is the variable without GEOMAP_, in lower case
        assert s.env.removeprefix("GEOMAP_").lower() == s.name
        assert s.help and "\n" not in s.help and "|" not in s.help


@pytest.mark.sqlite_only(reason="the default database: SQLite in the instance folder")
def test_defaults(tmp_path):
    settings = load_settings(tmp_path / "inst")
    for s in SETTINGS:
        value = getattr(settings, s.attribute)
        if s.name == "instance":
            assert value == (tmp_path / "inst").resolve()
        elif s.name == "database_url":
            assert value == f"sqlite:///{(tmp_path / 'inst').resolve()}/geomap.sqlite3"
        elif s.name != "data":
            assert value == s.default, s.name
    assert settings.sources["instance"] == "argument"
    assert {v for k, v in settings.sources.items() if k not in ("instance", "data")} == {"default"}
    # the existing names and defaults the rest of geomap relies on
    assert (settings.proxy_count, settings.trusted_proxies, settings.max_upload_mb) == (
        0, ("127.0.0.1", "::1"), 1024)
    assert (settings.grade_corroborated, settings.grade_strong,
            settings.grade_strong_first_hand) == (2, 3, 2)
    assert (settings.imagery_max_bands, settings.imagery_max_expansion,
            settings.imagery_convert_s) == (16, 1000, 120)
    assert (settings.session_idle_s, settings.session_absolute_s) == (1800, 43200)
    assert settings.keys_file is None and settings.online_basemap_url == ""


def test_the_environment_overrides_the_file_which_overrides_the_default(tmp_path, monkeypatch):
    inst = tmp_path / "inst"
    _file(inst, 'proxy_count = 1\nmax_upload_mb = 7\ntrusted_proxies = ["10.0.0.0/8"]\n'
                'online_basemap_attribution = "  Tiles: example  "\n')
    monkeypatch.setenv("GEOMAP_PROXY_COUNT", "2")
    monkeypatch.setenv("GEOMAP_GRADE_STRONG", "4")
    s = load_settings(inst)
    assert (s.proxy_count, s.sources["proxy_count"]) == (2, "environment")
    assert (s.max_upload_mb, s.sources["max_upload_mb"]) == (7, "file")
    assert (s.trusted_proxies, s.sources["trusted_proxies"]) == (("10.0.0.0/8",), "file")
    assert (s.grade_strong, s.sources["grade_strong"]) == (4, "environment")
    assert (s.imagery_max_bands, s.sources["imagery_max_bands"]) == (16, "default")
    assert s.online_basemap_attribution == "Tiles: example"
    # an explicit argument (tests, --instance) wins over everything
    assert load_settings(inst, proxy_count=3).sources["proxy_count"] == "argument"


def test_the_instance_comes_from_the_environment_but_not_from_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMAP_INSTANCE", str(tmp_path / "env-inst"))
    s = load_settings()
    assert s.instance_path == (tmp_path / "env-inst").resolve()
    assert s.sources["instance"] == "environment"
    path = _file(tmp_path / "env-inst", 'instance = "/elsewhere"\n')
    with pytest.raises(SettingsError, match=re.escape(f"{path}: instance cannot be set in the "
                                                      "settings file")):
        load_settings()


@pytest.mark.parametrize("env, raw, message", [
    ("GEOMAP_PROXY_COUNT", "x", "GEOMAP_PROXY_COUNT: expected an integer, got 'x'"),
    ("GEOMAP_PROXY_COUNT", "-1", "GEOMAP_PROXY_COUNT: expected an integer from 0 to 10, got -1"),
    ("GEOMAP_MAX_UPLOAD_MB", "", "GEOMAP_MAX_UPLOAD_MB: expected an integer, got ''"),
    ("GEOMAP_PORT", "70000", "GEOMAP_PORT: expected an integer from 1 to 65535, got 70000"),
    ("GEOMAP_SESSION_IDLE_S", "0", "GEOMAP_SESSION_IDLE_S: expected an integer of at least 60"),
    ("GEOMAP_TRUSTED_PROXIES", "127.0.0.1,proxy.lan",
     "GEOMAP_TRUSTED_PROXIES: 'proxy.lan' is not an IP address or network"),
    ("GEOMAP_ONLINE_BASEMAP_URL", "http://tiles.example.org/{z}/{x}/{y}.png",
     "GEOMAP_ONLINE_BASEMAP_URL: 'http://tiles.example.org/{z}/{x}/{y}.png' is not an https"),
    ("DATABASE_URL", "geomap.db", "DATABASE_URL: expected a database URL"),
])
def test_a_bad_value_in_the_environment_is_an_error_naming_the_variable(
        tmp_path, monkeypatch, env, raw, message):
    monkeypatch.setenv(env, raw)
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path / "inst")
    assert str(e.value).startswith(message)
    assert isinstance(e.value, InvalidInput)  # a GeomapError: the CLI shows it as one line


@pytest.mark.parametrize("toml, message", [
    ('proxy_count = "x"', "proxy_count: expected an integer, got 'x'"),
    ("proxy_count = true", "proxy_count: expected an integer, got True"),
    ("max_upload_mb = 1.5", "max_upload_mb: expected an integer, got 1.5"),
    ("trusted_proxies = [1]", "trusted_proxies: expected comma-separated addresses"),
    ("online_basemap_url = 3", "online_basemap_url: expected text, got 3"),
    ("proxy_cuont = 1", "unknown setting 'proxy_cuont'"),
    ("[web]\nport = 1", "unknown setting 'web'"),
    ("data = '/srv/data'", "data cannot be set in the settings file (it is needed to find "
                           "the file): use GEOMAP_DATA"),
    ("proxy_count = ", "not valid TOML"),
])
def test_a_bad_file_is_an_error_naming_the_file_and_the_key(tmp_path, toml, message):
    path = _file(tmp_path / "inst", toml + "\n")
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path / "inst")
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_settings_file_others_can_read_or_write_is_refused(tmp_path, mode):
    path = _file(tmp_path / "inst", 'database_url = "postgresql://geomap:pw@db/geomap"\n', mode)
    with pytest.raises(SettingsError, match=re.escape(f"chmod 600 {path}")) as e:
        load_settings(tmp_path / "inst")
    assert f"mode {mode:04o}" in str(e.value)
    assert "pw" not in str(e.value)
    path.chmod(0o600)
    assert load_settings(tmp_path / "inst").database_url == "postgresql://geomap:pw@db/geomap"


def test_the_keys_file_setting_reaches_the_key_ring(tmp_path, monkeypatch):
    from geomap.store import Store

    keys = tmp_path / "mounted" / "field-keys.json"
    keys.parent.mkdir(mode=0o700)
    monkeypatch.setenv("GEOMAP_KEYS_FILE", str(keys))
    store = Store.for_instance(load_settings(tmp_path / "inst"))
    try:
        assert store.keys.path == keys and keys.is_file()
        assert not (tmp_path / "inst" / "keys" / "field-keys.json").exists()
    finally:
        store.close()


def test_nothing_else_in_geomap_reads_the_environment():
    """Settings come through the table: config.py is the only reader of os.environ (offline.py
    only writes GDAL's variables)."""
    reads = re.compile(r"os\.environ(?!\.update|\.pop)|getenv\(")
    hits = [f"{p.relative_to(ROOT)}:{n}"
            for p in (ROOT / "geomap").rglob("*.py") if p.name != "config.py"
            for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
            if reads.search(line)]
    assert not hits


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_the_settings_command_prints_every_setting_its_value_and_its_source(
        tmp_path, monkeypatch):
    inst = tmp_path / "inst"
    _file(inst, 'proxy_count = 1\ndatabase_url = "sqlite:////tmp/secret-place.sqlite3"\n')
    monkeypatch.setenv("GEOMAP_MAX_UPLOAD_MB", "5")
    r = _cli("--instance", str(inst), "settings")
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line.split() for line in r.output.splitlines()[1:]}
    assert set(lines) == {s.env for s in SETTINGS}
    assert lines["GEOMAP_PROXY_COUNT"][1:] == ["file", "1"]
    assert lines["GEOMAP_MAX_UPLOAD_MB"][1:] == ["environment", "5"]
    assert lines["GEOMAP_IMAGERY_MAX_BANDS"][1:] == ["default", "16"]
    assert lines["DATABASE_URL"][1:] == ["file", SECRET_MASK]
    assert "secret-place" not in r.output
    assert r.output.splitlines()[0] == f"settings file: {inst.resolve() / 'settings.toml'}"


def test_the_settings_command_json_is_pure_json(tmp_path, monkeypatch):
    inst = tmp_path / "inst"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/pw-in-here.sqlite3")
    monkeypatch.setenv("GEOMAP_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    r = _cli("--instance", str(inst), "settings", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    by_env = {row["env"]: row for row in doc["settings"]}
    assert list(by_env) == [s.env for s in SETTINGS]
    assert by_env["DATABASE_URL"] == {"name": "database_url", "env": "DATABASE_URL",
                                      "value": SECRET_MASK, "source": "environment",
                                      "secret": True}
    assert by_env["GEOMAP_TRUSTED_PROXIES"]["value"] == "10.0.0.1/32,192.168.0.0/16"
    assert by_env["GEOMAP_PORT"] == {"name": "port", "env": "GEOMAP_PORT", "value": 5000,
                                     "source": "default", "secret": False}
    assert by_env["GEOMAP_INSTANCE"]["source"] == "argument"
    assert doc["settings_file_exists"] is False and "pw-in-here" not in r.output


def test_a_bad_setting_stops_the_cli_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMAP_PROXY_COUNT", "x")
    r = _cli("--instance", str(tmp_path / "inst"), "settings")
    assert r.exit_code != 0
    assert "GEOMAP_PROXY_COUNT: expected an integer, got 'x'" in r.output
    assert "Traceback" not in r.output
    r = _cli("--instance", str(tmp_path / "inst"), "settings", "--json")
    assert r.exit_code != 0
    assert json.loads(r.output)["message"] == "GEOMAP_PROXY_COUNT: expected an integer, got 'x'"


def test_serve_listens_where_the_settings_say_unless_told(tmp_path, monkeypatch):
    import importlib

    try:  # the command's module: geomap/cli/serve.py, or geomap/cli.py before the split
        cli = importlib.import_module("geomap.cli.serve")
    except ImportError:
        cli = importlib.import_module("geomap.cli")
    seen = []
    monkeypatch.setattr(cli, "_serve", lambda settings, store, host, port, threads:
                        seen.append((host, port)))
    monkeypatch.setattr(cli, "_store", lambda ctx: None)
    monkeypatch.setenv("GEOMAP_PORT", "5123")
    assert _cli("--instance", str(tmp_path / "i"), "serve").exit_code == 0
    assert _cli("--instance", str(tmp_path / "i"), "serve", "--port", "5200").exit_code == 0
    assert seen == [("127.0.0.1", 5123), ("127.0.0.1", 5200)]


def test_the_deployment_docs_list_every_setting_from_the_table(tmp_path):
    doc = (ROOT / "docs" / "deployment.md").read_text("utf-8")
    assert settings_markdown() in doc, "regenerate it: geomap settings --markdown"
    for s in SETTINGS:
        assert f"| `{s.env}` |" in doc and s.help in doc
    r = _cli("--instance", str(tmp_path / "inst"), "settings", "--markdown")
    assert r.output == settings_markdown()

