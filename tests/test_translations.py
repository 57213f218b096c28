"""The Korean catalogue covers every message in the code, and library messages translate."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "geomap" / "web" / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
# the keywords `make messages` extracts with (Babel's defaults plus ours)
KEYWORDS = ("_l", "lazy_gettext", "N_")


def extract_messages() -> dict[str, list[str]]:
    """msgid (or (singular, plural)) -> where it is used, from the source through Babel's own
    extraction with the project's babel.cfg (Python and Jinja templates)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = dict(DEFAULT_KEYWORDS) | {k: None for k in KEYWORDS}
    out: dict = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords,
            directory_filter=lambda d: Path(d).name not in (".venv", "node_modules", "tests")):
        out.setdefault(message, []).append(f"{filename}:{lineno}")
    return out


def test_every_message_has_a_korean_translation():
    """Each msgid in the code (gettext, ngettext, lazy and N_-marked library messages) has a
    Korean msgstr in the catalogue that is not empty and not fuzzy; plural messages have every
    plural form."""
    from babel.messages.pofile import read_po

    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="ko")
    missing = []
    for msgid, where in sorted(extract_messages().items(), key=lambda kv: str(kv[0])):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        m = catalogue.get(key)
        if isinstance(msgid, tuple):
            ok = (m is not None and not m.fuzzy and isinstance(m.string, tuple)
                  and len(m.string) == catalogue.num_plurals and all(m.string))
        else:
            ok = m is not None and not m.fuzzy and bool(m.string)
        if not ok:
            state = "missing" if m is None else "fuzzy" if m.fuzzy else "empty or incomplete"
            missing.append(f"{where[0]}: {state}: {key!r}")
    assert missing == [], f"{len(missing)} messages without Korean:\n" + "\n".join(missing)


def test_the_catalogue_compiles_without_errors():
    """A duplicate msgid or a broken placeholder would stop `pybabel compile`."""
    from babel.messages.pofile import read_po

    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="ko")
    errors = [(m.id, [str(e) for e in errs]) for m, errs in catalogue.check() if errs]
    assert errors == []


def test_an_import_problem_shows_in_korean_and_an_old_stored_reason_as_stored(tmp_path):
    """A problem keeps its English message (the CLI, the CSV export) and its template with
    parameters; the page shows it in the reader's language. A quarantined reason stored before
    templates were kept (only "message") shows as stored."""
    from flask import Flask
    from flask_babel import Babel, force_locale

    from geomap.intake.validate import Validator
    from geomap.web.labels import message_text

    v = Validator(None, {"witness_code": "w", "period": "p", "interview_date": "d"})
    probs = [p for p in v.check(2, {"w": "", "p": "1850", "d": "2016-02-30"}).problems
             if p.field != "location"]
    english = [p.message for p in probs]
    assert english[0].startswith("no witness code") and "1850" in english[1]
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PO.parent.parent.parent)
    Babel(app)
    with app.test_request_context(), force_locale("ko"):
        shown = [message_text(p.as_dict()) for p in probs]
        old = message_text({"code": "missing", "field": None, "message": "an old reason"})
    assert shown != english and all(s for s in shown), shown
    assert "1850" in shown[1] and "2016-02-30" in shown[2]
    assert not any(w in " ".join(shown) for w in ("witness code", "outside", "interview"))
    assert old == "an old reason"


def test_a_refused_file_is_explained_in_korean_with_its_name(tmp_path):
    """Whole-file refusals (wrong type, not UTF-8) keep their English text for the CLI and
    show in Korean on the page, naming the person's file."""
    import pytest
    from flask import Flask
    from flask_babel import Babel, force_locale

    from geomap.errors import InvalidInput
    from geomap.intake.readers import read_rows
    from geomap.web.labels import message_text

    bad = tmp_path / "notes.doc"
    bad.write_bytes(b"x")
    latin = tmp_path / "old.csv"
    latin.write_bytes("witness_code,place\nW-1,caf\xe9 \xe9t\xe9\n".encode("latin-1"))
    errors = []
    for f in (bad, latin):
        with pytest.raises(InvalidInput) as e:
            list(read_rows(f))
        errors.append(e.value)
    assert "unsupported file type" in str(errors[0])
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PO.parent.parent.parent)
    Babel(app)
    with app.test_request_context(), force_locale("ko"):
        shown = [message_text(e) for e in errors]
    assert "notes.doc" in shown[0] and "지원하지 않는" in shown[0]
    assert "old.csv" in shown[1] and "UTF-8" in shown[1] and "Save it" not in shown[1]


def test_an_api_refusal_carries_its_reason_in_the_readers_language(client):
    """A 400 from the API carries a machine code in "error" (scripts) and "message" in the
    language the page is shown in, which the map shows in its status line."""
    client.get("/?lang=ko")  # the language switch sets the cookie the API reads too
    r = client.get("/api/testimonies?period=the+nineties")
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == "period" and body["error"] == "invalid_input"
    assert "the nineties" in body["message"] and "형식이 아닙니다" in body["message"]


def test_an_image_refused_in_korean_names_the_file_and_no_server_path(ref_store, settings,
                                                                      tmp_path):
    """An analyst working in Korean who uploads a file that is not a GeoTIFF reads why in
    Korean, with the file's own name, and never a path on the server."""
    import html as html_lib

    from geomap.web import create_app

    from .conftest import csrf_from, https_client, make_user, sign_in

    app = create_app(settings, ref_store)
    analyst, secret, _ = make_user(ref_store, "analyst")
    c = sign_in(https_client(app), analyst.username, secret)
    token = csrf_from(c.get("/imagery/?lang=ko").data.decode())
    bad = tmp_path / "upload.tif"
    bad.write_bytes(b"<VRTDataset></VRTDataset>")
    with bad.open("rb") as fh:
        r = c.post("/imagery/", data={"csrf_token": token, "file": (fh, "현장 2019.tif"),
                                      "date": "2019-07-08"}, content_type="multipart/form-data")
    page = html_lib.unescape(r.data.decode())
    assert r.status_code == 400
    assert "현장 2019.tif: 읽을 수 있는 GeoTIFF가 아닙니다" in page
    assert "not a readable GeoTIFF" not in page
    assert str(tmp_path) not in page and str(settings.instance_path) not in page
