"""HTML pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, g, render_template, url_for
from flask_babel import gettext as _

from ..basemap import ATTRIBUTION, ensure_basemap
from ..mapview import MapUrls, build_map, render_parts
from . import get_settings, get_store
from .labels import map_text, vocab
from .security import current_principal
from .tiles import basemap_layers

_INLINE = re.compile(r"<(script|style)\b(?![^>]*\bnonce=)")


def with_nonce(html: str, nonce: str) -> str:
    """Give folium's inline <script>/<style> blocks the request's CSP nonce."""
    return _INLINE.sub(lambda m: f'<{m[1]} nonce="{nonce}"', html)

bp = Blueprint("pages", __name__)


def _online_basemap(settings) -> dict | None:
    """The online basemap an administrator set (GEOMAP_ONLINE_BASEMAP_URL), or None: off by
    default, because every tile request tells that server which area a user is looking at."""
    if not settings.online_basemap_url:
        return None
    return {"url": settings.online_basemap_url,
            "attribution": settings.online_basemap_attribution
            or urlsplit(settings.online_basemap_origin).hostname}


def _static(path: str) -> str:
    return url_for("static", filename=path)


@bp.get("/")
def map_page():
    settings = get_settings()
    basemap = ensure_basemap(settings.basemap_dir)
    urls = MapUrls(
        basemap=url_for("tiles.basemap_tile", z=0, x=0, y=0).replace("/0/0/0.", "/{z}/{x}/{y}."),
        basemap_bounds=basemap.bounds, basemap_maxzoom=basemap.maxzoom,
        basemap_attribution=_("Relief: Natural Earth (public domain)") if ATTRIBUTION.startswith(
            "Relief: Natural Earth") else ATTRIBUTION, sites=url_for("api.sites"),
        testimonies=url_for("api.testimonies"), boundaries=url_for("api.boundaries", level=1),
        site_links=url_for("api.site_testimonies", key="__KEY__"),
        basemap_packages=tuple(basemap_layers()), online_basemap=_online_basemap(settings),
    )
    from ..store.scenes import SceneStore
    from .imagery import readable, scene_layer

    # a scene whose COG cannot be read is left out (and logged), not a 500 for everyone
    scenes = [scene_layer(s) for s in readable(SceneStore(get_store()).list(current_principal()))]
    m = build_map(urls, map_text(), vocab(), limit=min(settings.max_features, settings.points_per_view),
                  scenes=scenes)
    parts = render_parts(m, _static)
    stats = get_store().stats(current_principal())
    nonce = g.csp_nonce
    return render_template("map.html", parts=parts, stats=stats,
                           online_basemap_host=urlsplit(settings.online_basemap_origin).hostname,
                           head=with_nonce(parts.head, nonce), body=with_nonce(parts.body, nonce))
