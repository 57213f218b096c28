import folium
import pytest
from folium.plugins import FastMarkerCluster

from geomap.errors import AssetNotLocal
from geomap.layers.assets import check_rendered, localise


def _static(path: str) -> str:
    return "/static/" + path


def _render(m: folium.Map) -> str:
    fig = m.get_root()
    localise(fig, _static)
    html = fig.render()
    check_rendered(html)
    return html


def test_folium_cdn_links_are_rewritten_to_our_static_files():
    m = folium.Map(tiles=None)
    FastMarkerCluster([[40.0, 127.0]], callback="""function (row) {
        return L.circleMarker(new L.LatLng(row[0], row[1])); }""").add_to(m)
    html = _render(m)
    assert "https://" not in html.replace("https://github.com", "")
    assert 'src="/static/vendor/leaflet/leaflet.js"' in html
    assert "/static/vendor/markercluster/MarkerCluster.Default.css" in html
    assert "jquery" not in html and "bootstrap" not in html


def test_an_element_needing_an_asset_we_do_not_serve_fails_at_build_time():
    m = folium.Map(tiles=None)
    folium.Marker([40.0, 127.0], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(AssetNotLocal, match="awesome_markers"):
        _render(m)


def test_folium_default_marker_callback_is_refused_too():
    m = folium.Map(tiles=None)
    FastMarkerCluster([[40.0, 127.0]]).add_to(m)  # its default callback uses Awesome Markers
    with pytest.raises(AssetNotLocal):
        _render(m)
