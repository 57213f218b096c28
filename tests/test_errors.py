"""One error tree, one handler (issue 12): every class of geomap.errors answers with its own
status, as JSON {"error": code, "message", "field"} on API paths (and to clients asking for
JSON) and as the error page elsewhere, in the reader's language; an unexpected error is a 500
that says nothing of its internals; the command line maps the same errors to exit code 2 and a
one-line message, or a JSON error document with --json."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from geomap import errors
from geomap.cli import main
from geomap.messages import N_, Message
from geomap.web import create_app

from .conftest import https_client, make_user, sign_in

CLASSES = {
    "invalid": (errors.InvalidInput, 400, "invalid_input", "Bad request"),
    "signin": (errors.NotSignedIn, 401, "not_signed_in", "Sign-in required"),
    "forbidden": (errors.Forbidden, 403, "forbidden", "Not allowed"),
    "notfound": (errors.NotFound, 404, "not_found", "Page not found"),
    "conflict": (errors.Conflict, 409, "conflict", "Conflict"),
    "toolarge": (errors.TooLarge, 413, "too_large", "File too large"),
}


class _Broken(errors.GeomapError):
    """An unclassified library error (as a broken key file raises): a 500."""


@pytest.fixture
def app(settings, store):
    app = create_app(settings, store)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: errors are answered

    @app.get("/test-raise/<name>")
    @app.get("/api/test-raise/<name>")
    def _raise(name: str):
        cls = CLASSES[name][0]
        raise cls(f"thing {name!r} refused", field="thing")

    @app.get("/test-period")
    @app.get("/api/test-period")
    def _period():
        from geomap.periods import parse_period

        parse_period("1990/13")  # a library error carrying a translatable Message
        return "unreachable"

    @app.get("/test-broken")
    @app.get("/api/test-broken")
    def _broken():
        raise _Broken("key file /srv/secret/keys.json unreadable")

    return app


@pytest.fixture
def client(app, store):
    user, secret, _ = make_user(store, "researcher", username="errtree")
    return sign_in(https_client(app), user.username, secret)


def test_the_tree_keeps_the_old_names_and_their_bases():
    assert errors.BadRequest is errors.InvalidInput
    assert issubclass(errors.InvalidInput, ValueError)
    assert issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.PeriodParseError, errors.InvalidInput)
    assert errors.UnmappedColumns.status == 400
    for cls, status, code, _title in CLASSES.values():
        assert issubclass(cls, errors.GeomapError) and (cls.status, cls.code) == (status, code)
    e = errors.Conflict(Message(N_("name %(name)s taken"), name="x"), field="name")
    assert str(e) == "name x taken" and e.msg is not None and e.field == "name"


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_is_json_on_an_api_path(client, name):
    _cls, status, code, _title = CLASSES[name]
    r = client.get(f"/api/test-raise/{name}")
    assert r.status_code == status and r.mimetype == "application/json"
    body = r.get_json()
    assert body["error"] == code and body["field"] == "thing"
    assert body["message"] == f"thing {name!r} refused"
    if status == 401:
        assert "Session" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_is_a_page_on_a_page_path(client, name):
    _cls, status, _code, title = CLASSES[name]
    r = client.get(f"/test-raise/{name}")
    html = r.data.decode()
    assert r.status_code == status and r.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in html and 'class="gm-bar"' in html
    assert f"thing &#39;{name}&#39; refused" in html  # the error's own words, escaped


def test_a_client_asking_for_json_gets_json_on_any_path(client):
    r = client.get("/test-raise/conflict", headers={"Accept": "application/json"})
    assert r.status_code == 409 and r.get_json()["error"] == "conflict"
    r = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    # a browser's Accept prefers HTML: the page
    r = client.get("/no/such/page", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert r.status_code == 404 and r.mimetype == "text/html"


def test_a_library_message_is_in_korean_on_a_korean_page_and_in_the_api(client):
    client.get("/?lang=ko")
    r = client.get("/test-period")
    html = r.data.decode()
    assert r.status_code == 400 and "<h1>잘못된 요청</h1>" in html
    assert "1990/13" in html and "Bad request" not in html
    assert "does not exist" not in html  # the message itself is translated
    # plain English text from the library is not put on a Korean page: the generic text is
    html = client.get("/test-raise/conflict").data.decode()
    assert "<h1>충돌</h1>" in html and "refused" not in html
    body = client.get("/api/test-period").get_json()
    assert body["error"] == "invalid_input"
    assert "1990/13" in body["message"] and "does not exist" not in body["message"]


def test_a_500_hides_the_internals(client, caplog):
    r = client.get("/test-broken")
    assert r.status_code == 500 and "secret" not in r.data.decode()
    r = client.get("/api/test-broken")
    body = r.get_json()
    assert r.status_code == 500 and body["error"] == "internal_error"
    assert "secret" not in r.data.decode() and len(body["reference"]) == 8
    assert any(body["reference"] in rec.getMessage() for rec in caplog.records)


# -- the command line --------------------------------------------------------------------------
def _cli(instance, *args):
    return CliRunner().invoke(main, ["--instance", str(instance), *args])


def test_a_cli_error_is_one_line_on_stderr_and_exit_2(tmp_path):
    r = _cli(tmp_path, "users", "disable", "nobody")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == "Error: no user named 'nobody'"
    assert r.stdout == "" and "Traceback" not in r.output


def test_a_cli_error_with_json_is_a_json_document_and_nothing_else(tmp_path):
    r = _cli(tmp_path, "imagery", "list", "--site", "no-such-site", "--json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)  # the whole of stdout
    assert doc == {"error": "not_found", "message": "no located site 'no-such-site'",
                   "field": "site"}


def test_a_name_taken_is_a_conflict_for_the_cli_and_the_admin_page_alike(tmp_path):
    from geomap import accounts as acc

    with pytest.raises(errors.Conflict):
        acc.new_username("someone", lambda name: True)
    assert acc.new_username(" someone ", lambda name: False) == "someone"
    with pytest.raises(errors.InvalidInput):
        acc.new_username("x", lambda name: False)
