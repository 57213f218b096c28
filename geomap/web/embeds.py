"""Public embeds of published snapshots: /embed/<slug> (the map page), its imagery tiles, and
/oembed. No session is read or written on these paths, no sign-in is asked, only GET and HEAD
are answered, and every client address has a token bucket (geomap.embeds.TokenBucket; the
address is the one geomap.web.proxy settled on). What they show is the stored snapshot only
(geomap.embeds); security.py gives these paths their own frame-ancestors."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import NotImplemented as FormatNotOffered

from .. import embeds
from ..errors import InvalidInput
from . import get_settings, get_store

bp = Blueprint("embeds", __name__)
RATE = 20.0   # requests a second, per client address, after the burst
BURST = 240   # a map page and its first screens of tiles


def _limiter() -> embeds.TokenBucket:
    lim = current_app.extensions.get("geomap_embed_limiter")
    if lim is None:
        lim = embeds.TokenBucket(current_app.config.get("GEOMAP_EMBED_RATE", RATE),
                                 current_app.config.get("GEOMAP_EMBED_BURST", BURST))
        current_app.extensions["geomap_embed_limiter"] = lim
    return lim


@bp.before_request
def rate_limit():
    wait = _limiter().take(request.remote_addr or "-")
    if wait:
        return Response(_("Too many requests. Wait a moment and try again."), status=429,
                        mimetype="text/plain", headers={"Retry-After": str(wait)})
    return None


def _snapshot(slug: str) -> dict:
    snap = embeds.published(get_store(), slug)
    if snap is None:
        raise NotFound()
    return snap


@bp.get("/embed/<slug>")
def embed(slug: str):
    snap = _snapshot(slug)
    g.embed_csp = embeds.embed_csp(snap)
    relief = embeds.basemap_layer(get_settings(), f"/embed/{slug}/basemap/{{z}}/{{x}}/{{y}}.png")
    page = embeds.render_page(snap, "/static/", f"/embed/{slug}/tiles/{{scene}}/{{z}}/{{x}}/{{y}}.png",
                              basemap=relief, figure_base=f"/embed/{slug}/figures/")
    return Response(page, mimetype="text/html")


def figure_response(snap: dict, name: str) -> Response:
    """A story step's PNG as stored at publish time (never rendered on request)."""
    from ..publications import published_figure

    png = published_figure(snap, name)
    if png is None:
        raise NotFound()
    resp = Response(png, mimetype="image/png")
    resp.cache_control.public = True
    resp.cache_control.max_age = 300
    return resp


@bp.get("/embed/<slug>/figures/<name>")
def figure(slug: str, name: str):
    return figure_response(_snapshot(slug), name)


def _send(t) -> Response:
    resp = Response(status=304) if t.body is None else Response(t.body, mimetype=t.media_type)
    resp.set_etag(t.etag)
    resp.cache_control.public = True
    resp.cache_control.max_age = t.max_age
    return resp


@bp.get("/embed/<slug>/basemap/<int:z>/<int:x>/<int:y>.png")
def basemap_tile(slug: str, z: int, x: int, y: int):
    _snapshot(slug)
    return _send(embeds.publication_basemap_tile(get_settings(), z, x, y, request.if_none_match))


@bp.get("/embed/<slug>/tiles/<scene_id>/<int:z>/<int:x>/<int:y>.png")
def tile(slug: str, scene_id: str, z: int, x: int, y: int):
    snap = _snapshot(slug)
    return _send(embeds.publication_tile(get_store(), get_settings(), snap, scene_id, z, x, y,
                                         request.if_none_match))


def _size(name: str) -> int | None:
    v = request.args.get(name)
    if v is None:
        return None
    if not v.isdigit() or not 1 <= int(v) <= 10000:
        raise InvalidInput(f"{name} must be a whole number of pixels from 1 to 10000", field=name)
    return int(v)


@bp.get("/oembed")
def oembed():
    fmt = request.args.get("format", "json")
    if fmt == "xml":
        raise FormatNotOffered()  # oEmbed 2.2.5: 501 for a format the provider does not offer
    if fmt != "json":
        raise InvalidInput("format must be json", field="format")
    slug = embeds.slug_of_url(request.args.get("url", ""), request.host)
    snap = _snapshot(slug or "")
    doc = embeds.oembed(request.url_root, slug, _size("maxwidth"), _size("maxheight"),
                        snap.get("title") or "")
    resp = jsonify(doc)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # public and cookie-less
    return resp


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.template_global()
    def embed_code_for(slug: str, lang: str = "en") -> str:
        """The code to paste, for the publication page's include (_embed_code.html)."""
        return embeds.embed_code(request.url_root, slug, lang)
