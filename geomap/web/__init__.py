"""Flask application factory. The only package that imports Flask."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, request
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect

from ..config import Settings, load_settings
from ..store import Store
from ..store.accounts import AccountStore
from .proxy import TrustedProxyFix

LANGUAGES = ("en", "ko")


def select_locale() -> str:
    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in LANGUAGES:
        return lang
    return request.accept_languages.best_match(LANGUAGES) or "en"


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or load_settings()
    store = store or Store.for_instance(settings)
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=True)
    app.config.update(
        GEOMAP_SETTINGS=settings,
        SECRET_KEY=store.keys.secret_key,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session instead, which times out itself
        # the Referer check cannot work with Referrer-Policy: no-referrer; the token and the
        # SameSite=Strict session cookie carry the protection
        WTF_CSRF_SSL_STRICT=False,
        # checked by geomap.web.security instead, which skips it for API-token requests
        WTF_CSRF_CHECK_DEFAULT=False,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
    )
    app.json.ensure_ascii = False  # Hangul as text, not \uXXXX
    accounts = AccountStore(store)
    app.extensions["geomap_store"] = store
    app.extensions["geomap_accounts"] = accounts
    # behind N trusted reverse proxies: client address, scheme and host from them, and from
    # nobody else (proxy.py)
    app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.proxy_count, settings.trusted_proxies)

    from .sessions import DbSessionInterface

    app.session_interface = DbSessionInterface(accounts, settings.session_idle_s,
                                               settings.session_absolute_s)
    accounts.purge_sessions(settings.session_idle_s, settings.session_absolute_s)
    CSRFProtect(app)  # every POST/PUT/PATCH/DELETE, forms and our scripts' JSON calls alike
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    from .labels import message_text

    app.jinja_env.filters["message"] = message_text  # library messages, translated

    from . import admin, api, auth, corroboration, errors, imagery, intake, pages, security, tiles

    security.install(app, accounts)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(intake.bp)
    app.register_blueprint(corroboration.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(imagery.bp)
    from . import ogcapi, tokens

    app.register_blueprint(ogcapi.bp)  # OGC API - Features: sessions or API tokens
    app.register_blueprint(tokens.bp)  # a user's API tokens (/account/tokens)
    from . import testimonies

    app.register_blueprint(testimonies.bp)
    from . import site_edit

    app.register_blueprint(site_edit.bp)
    from . import proposals

    app.register_blueprint(proposals.bp)
    from . import figures

    app.register_blueprint(figures.bp)
    # by name: this module's `annotations` is the __future__ feature, not the submodule
    from .annotations import bp as annotations_bp

    app.register_blueprint(annotations_bp)
    from . import exports

    app.register_blueprint(exports.bp)  # /exports/<dataset>.<format>: sessions or API tokens
    from . import uwazi

    app.register_blueprint(uwazi.bp)  # /import/uwazi: Uwazi CSV or API JSON
    from . import embeds

    embeds.register(app)  # /embed/<slug>, its tiles, /oembed: public, cookie-less
    from . import publications

    publications.register(app)  # /publications (staff), /p/<slug>: the stored snapshot
    admin.register(app)
    errors.register(app)

    @app.context_processor
    def _context():
        return {"csp_nonce": g.get("csp_nonce", ""), "principal": g.get("principal")}

    @app.after_request
    def _lang_cookie(resp):
        if request.args.get("lang") in LANGUAGES and g.get("token") is None:  # no cookie
            resp.set_cookie("lang", request.args["lang"], samesite="Strict", httponly=True,
                            secure=True)
        return resp

    return app


def get_store() -> Store:
    from flask import current_app

    return current_app.extensions["geomap_store"]


def get_settings() -> Settings:
    from flask import current_app

    return current_app.config["GEOMAP_SETTINGS"]
