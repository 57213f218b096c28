"""User text is text on every map surface (issue 9, item 11): the rendered HTML.

The browser test (tests/test_browser.py) shows the same in Chromium; these check the pages and
the guard without a browser.
"""

from __future__ import annotations

from datetime import date

import folium
import pytest

from geomap.imagery import ingest
from geomap.layers.text import MarkupInMapText, check_layers, html_text, is_html_text
from geomap.mapview import render_parts
from geomap.store.scenes import SceneStore
from geomap.web import create_app

from .conftest import https_client, make_user, sign_in
from .test_imagery import make_tif

META = '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/">'
IMG = "<img src=x onerror=\"document.title='pwned'\">"
SCRIPT = "</script><script>window.pwned = 1</script>"
SENSOR = f"S1 {IMG} {SCRIPT}"
LICENCE = f"CC-BY {META} {IMG}"


@pytest.fixture
def hostile_scene_client(ref_store, settings, tmp_path):
    f = make_tif(tmp_path / "scene.tif")
    scene = ingest(f, settings.instance_path / "imagery", date(2014, 5, 1), actor="t",
                   sensor=SENSOR, provider=f"P {META}", licence=LICENCE)
    SceneStore(ref_store).add(scene, actor="t")
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    return sign_in(https_client(app), user.username, secret), scene


def _no_raw_payload(html: str) -> None:
    for payload in (META, IMG, SCRIPT, "<meta http-equiv=\"refresh", "<img src=x",
                    "window.pwned = 1</"):
        assert payload not in html, payload


def test_a_licence_with_a_meta_refresh_is_text_on_the_map_and_compare_page(
        hostile_scene_client):
    client, scene = hostile_scene_client
    html = client.get("/").data.decode()
    _no_raw_payload(html)
    # in the page script as text for Leaflet's HTML options: &lt; inside a JSON string
    assert "\\u0026lt;meta http-equiv=\\u0026#34;refresh" in html  # the attribution
    assert "2014-05-01 S1 \\u0026lt;img src=x" in html                # the layer control name
    compare = client.get(f"/imagery/compare?a={scene.id}&b={scene.id}")
    assert compare.status_code == 200
    page = compare.data.decode()
    _no_raw_payload(page)
    # the licence travels as JSON data and geomap.htmlText makes it text for the attribution
    assert page.index("js/geomap-core.js") < page.index("js/geomap-compare.js")
    assert "\\u003cmeta http-equiv=\\\"refresh\\\"" in page


def test_a_licence_with_markup_is_escaped_text_in_tilejson(hostile_scene_client):
    """TileJSON clients may treat `attribution` as HTML (Leaflet and MapLibre do)."""
    client, scene = hostile_scene_client
    doc = client.get(f"/tiles/{scene.id}/tilejson.json").get_json()
    assert doc["attribution"] == html_text(LICENCE) and "<" not in doc["attribution"]


def test_a_layer_name_or_attribution_holding_markup_is_refused_before_rendering():
    m = folium.Map(tiles=None)
    folium.raster_layers.TileLayer(tiles="/t/{z}/{x}/{y}.png", name="ok", attr=LICENCE,
                                   overlay=True).add_to(m)
    with pytest.raises(MarkupInMapText, match="attribution"):
        render_parts(m, lambda p: "/static/" + p)
    m = folium.Map(tiles=None)
    folium.raster_layers.TileLayer(tiles="/t/{z}/{x}/{y}.png", name=SENSOR,
                                   attr=html_text(LICENCE), overlay=True).add_to(m)
    with pytest.raises(MarkupInMapText, match="name"):
        check_layers(m)


@pytest.mark.parametrize("text", [META, IMG, SCRIPT, "a & b", "요덕 <관리소>", "", "plain"])
def test_html_text_round_trips_to_the_literal_text(text):
    from markupsafe import Markup

    t = html_text(text)
    assert is_html_text(t) and "<" not in t and Markup(t).unescape() == text


def test_our_scripts_give_leaflet_html_apis_only_nodes_or_escaped_text():
    """Every call in our JavaScript that Leaflet (or the DOM) treats as HTML gets a DOM node,
    a function building one, `geomap.htmlText(...)` or a number: never a person's string."""
    import re
    from pathlib import Path

    js = Path(__file__).resolve().parents[1] / "geomap" / "web" / "static" / "js"
    sinks = re.compile(r"\.(?:innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|"
                       r"\.bind(?:Tooltip|Popup)\(|\.setContent\(|\battribution:\s*|"
                       r"\.add(?:Overlay|BaseLayer)\(|\bhtml:\s*|L\.control\.layers\(")
    safe = ("el(", "function", "label)", "label,", "geomap.htmlText(", '"<span>" + Number(',
            ";")  # `return node.innerHTML;` in geomap.htmlText itself
    # the public pages (embed, publication) do not load geomap-core.js: their own `text` makes a
    # text node, `escaped` is that node's escaped HTML, `siteLabel` builds nodes from `text`, and
    # the layer control's names are `escaped` keys
    local = ("text(", "escaped(", "siteLabel(", "null, overlays")
    text_node = re.compile(r"function text\(value\) \{\s*const node = document\.createElement"
                           r"\(\"span\"\);\s*node\.textContent = ")
    found = []
    for f in sorted(js.glob("*.js")):
        source = f.read_text()
        own = text_node.search(source) is not None
        if "function escaped(" in source:
            assert "function escaped(value) { return text(value).innerHTML; }" in source, f.name
        if "overlays[" in source:
            assert all("overlays[escaped(" in ln for ln in source.splitlines()
                       if "overlays[" in ln and "=" in ln.split("overlays[", 1)[1]), f.name
        for n, line in enumerate(source.splitlines(), 1):
            code = line.split("//")[0]
            if code.lstrip().startswith(("/*", "*")):
                continue
            for m in sinks.finditer(code):
                rest = code[m.end():].lstrip()
                if not (rest.startswith(safe) or (own and rest.startswith(local))):
                    found.append(f"{f.name}:{n}: {line.strip()}")
    assert found == []
    core = (js / "geomap-core.js").read_text()
    assert core.count("innerHTML") == 1 and "node.textContent = " in core
