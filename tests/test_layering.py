"""The package's layering rules, checked on the source so they hold from now on:

- every SQL statement lives in geomap/store/: no module outside it imports sqlalchemy or the
  table definitions (geomap.store.schema); a library module that annotates a connection takes
  the type from geomap.store.protocol;
- only geomap/web/ imports Flask;
- web modules share helpers by public names (geomap/web/helpers.py), never another module's
  private `_name`;
- `Store` keeps every member of the `StoreLike` protocol that library functions are typed with.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from geomap.store import Store
from geomap.store.protocol import StoreLike

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "geomap"

# Modules allowed to break the SQL rule ("path" or "folder/": "why"). None is left: the
# CLI's last SQL (the audit tail) went through geomap.audit when the CLI became a package.
SQL_ALLOWED: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "migrations" not in p.parts)


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _imports(p: Path, rel: str | None = None) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import in the file, function-level
    and TYPE_CHECKING ones included; `rel` places the file in the package (default: where
    it is)."""
    package = list(Path(rel or _rel(p)).parts[:-1])  # a module's and an __init__'s package
    out = []
    for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod, [a.name for a in node.names]))
    return out


def _allowed(rel: str) -> bool:
    return any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in SQL_ALLOWED)


def _touches_sql(mod: str, names: list[str]) -> bool:
    if mod == "sqlalchemy" or mod.startswith("sqlalchemy."):
        return True
    if mod == "geomap.store.schema" or mod.startswith("geomap.store.schema."):
        return True
    return mod == "geomap.store" and "schema" in names


def test_sql_only_in_the_store():
    bad = []
    for p in _modules():
        rel = _rel(p)
        if rel.startswith("geomap/store/") or _allowed(rel):
            continue
        bad += [f"{rel}:{line} imports {mod}" for line, mod, names in _imports(p)
                if _touches_sql(mod, names)]
    assert not bad, "SQL belongs in geomap/store/:\n" + "\n".join(bad)


def test_no_statements_run_on_a_connection_outside_the_store():
    """Raw SQL needs no import: `conn.exec_driver_sql("...")` or `conn.execute(...)` outside
    geomap/store/ would break the rule too."""
    bad = []
    for p in _modules():
        rel = _rel(p)
        if rel.startswith("geomap/store/") or _allowed(rel):
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "exec_driver_sql", "scalar", "scalars")
                    and isinstance(node.func.value, ast.Name)
                    and "conn" in node.func.value.id):
                bad.append(f"{rel}:{node.lineno} {node.func.value.id}.{node.func.attr}(...)")
    assert not bad, "SQL belongs in geomap/store/:\n" + "\n".join(bad)


def test_only_the_web_package_imports_flask():
    bad = []
    for p in _modules():
        rel = _rel(p)
        if rel.startswith("geomap/web/"):
            continue
        bad += [f"{rel}:{line} imports {mod}" for line, mod, _ in _imports(p)
                if mod.split(".")[0] == "flask" or mod.startswith("flask_")]
    assert not bad, "only geomap/web/ imports Flask:\n" + "\n".join(bad)


def test_web_modules_import_no_private_names_of_each_other():
    bad = []
    for p in sorted((PKG / "web").rglob("*.py")):
        for line, mod, names in _imports(p):
            if not mod.startswith("geomap.web"):
                continue
            bad += [f"{_rel(p)}:{line} imports {n} from {mod}" for n in names
                    if n.startswith("_") and not n.startswith("__")]
    assert not bad, "share a helper by a public name (geomap/web/helpers.py):\n" + "\n".join(bad)


def test_the_checks_see_violations(tmp_path):
    """The import reader resolves relative imports, function-level ones included, so the
    rules above cannot pass by not seeing a violation."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from .store.schema import sites\n"
                     "    from ..store import schema\n"
                     "from . import store\nimport sqlalchemy.orm\n"
                     "from .corroboration import _basemap\n")
    found = [(mod, names) for _, mod, names in _imports(probe, "geomap/intake/probe.py")]
    assert ("geomap.intake.store.schema", ["sites"]) in found
    assert ("geomap.store", ["schema"]) in found
    assert ("sqlalchemy.orm", []) in found
    assert sum(_touches_sql(m, n) for m, n in found) == 2
    web = [(m, n) for _, m, n in _imports(probe, "geomap/web/probe.py")]
    assert ("geomap.web.corroboration", ["_basemap"]) in web
    assert ("geomap.web.store.schema", ["sites"]) in web


def test_store_parameters_are_typed():
    """A library function says what it needs of a store: `store: StoreLike` (or `Store` inside
    geomap/store/ where a module reaches the Store's private helpers)."""
    bad = []
    for p in _modules():
        rel = _rel(p)
        if rel.startswith("geomap/cli"):  # the CLI's split owns its signatures for now
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                bad += [f"{rel}:{node.lineno} {node.name}" for a in
                        node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                        if a.arg == "store" and a.annotation is None]
    assert not bad, "annotate `store` (StoreLike):\n" + "\n".join(bad)


PROTOCOL_MEMBERS = [n for n in StoreLike.__dict__ if not n.startswith("_")]
PROTOCOL_ATTRS = list(StoreLike.__annotations__)


@pytest.mark.parametrize("name", [n for n in PROTOCOL_MEMBERS if callable(getattr(StoreLike, n))])
def test_store_has_each_protocol_method_with_the_same_parameters(name):
    assert hasattr(Store, name), f"Store lacks StoreLike.{name}"
    want = inspect.signature(getattr(StoreLike, name))
    got = inspect.signature(getattr(Store, name))
    shape = [(p.name, p.kind, p.default) for p in want.parameters.values()]
    assert [(p.name, p.kind, p.default) for p in got.parameters.values()] == shape


def test_store_sets_each_protocol_attribute(store):
    missing = [a for a in PROTOCOL_ATTRS if not hasattr(store, a)]
    assert not missing and isinstance(store, Store)
    assert len(PROTOCOL_ATTRS) >= 5 and len(PROTOCOL_MEMBERS) >= 20
