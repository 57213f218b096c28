"""Flask application factory. The only package that imports Flask."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel, get_locale

from ..config import Settings, load_settings
from ..store import Store

LANGUAGES = ("en", "ko")


def select_locale() -> str:
    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in LANGUAGES:
        return lang
    return request.accept_languages.best_match(LANGUAGES) or "en"


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=True)
    app.config.update(
        GEOMAP_SETTINGS=settings,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        JSON_SORT_KEYS=False,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.json.ensure_ascii = False  # Hangul as text, not \uXXXX
    app.extensions["geomap_store"] = store or Store(settings.database_url)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale

    from . import api, errors, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    errors.register(app)

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.args.get("lang") in LANGUAGES:
            resp.set_cookie("lang", request.args["lang"], samesite="Lax", httponly=True)
        return resp

    return app


def get_store() -> Store:
    from flask import current_app

    return current_app.extensions["geomap_store"]


def get_settings() -> Settings:
    from flask import current_app

    return current_app.config["GEOMAP_SETTINGS"]
