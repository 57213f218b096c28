import re
from urllib.parse import urlparse

import pytest
from shapely.geometry import Point

from geomap.model import FacilityType, Precision, Site, Tier
from geomap.web import create_app

from .conftest import https_client, make_user, sign_in

XSS = "<img src=x onerror=alert(1)>"


def _external_urls(html: str) -> list[str]:
    urls = re.findall(r"""<script[^>]*\ssrc=["']([^"']+)""", html)
    urls += re.findall(r"""<link[^>]*\shref=["']([^"']+)""", html)
    urls += re.findall(r"""<img[^>]*\ssrc=["']([^"']+)""", html)
    urls += re.findall(r"""url\(\s*["']?([^"')]+)""", html)
    urls += re.findall(r"""@import\s+["']([^"']+)""", html)
    return [u for u in urls if urlparse(u).netloc or u.startswith("//")]


def test_map_page_loads_nothing_from_another_host(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.data.decode("utf-8")
    assert "L.map(" in html
    assert _external_urls(html) == []
    assert "cdn" not in html.lower()


def test_static_css_loads_nothing_from_another_host(client):
    html = client.get("/").data.decode("utf-8")
    for href in re.findall(r"""<link[^>]*\shref=["'](/static/[^"']+\.css)""", html):
        css = client.get(href).data.decode("utf-8")
        assert _external_urls(css) == [], href
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            if not ref.startswith(("data:", "#")):
                from posixpath import join, normpath

                target = normpath(join(href.rsplit("/", 1)[0], ref))
                assert client.get(target).status_code == 200, (href, ref)


def test_page_names_the_signed_in_user_and_flags_synthetic_data(client):
    html = client.get("/").data.decode("utf-8")
    assert "test-researcher-" in html and "Sign out" in html
    assert "Testimonies in this demo are synthetic" in html


def test_korean_interface(client):
    html = client.get("/?lang=ko").data.decode("utf-8")
    assert '<html lang="ko">' in html
    assert "로그아웃" in html and "이 데모의 증언은 합성 데이터입니다" in html


@pytest.fixture
def xss_client(ref_store, settings):
    ref_store.upsert_sites([Site(
        key="xss", name=XSS, name_ko=XSS, aliases=[XSS, "<script>alert(2)</script>"],
        facility_type=FacilityType.OTHER, geometry=Point(127.0, 40.0),
        precision=Precision.LOCALITY, sources="<b>bold</b>", tier=Tier.INTERNAL)])
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "admin")
    return sign_in(https_client(app), user.username, secret)


def test_a_hostile_site_name_never_reaches_html_as_markup(xss_client):
    html = xss_client.get("/").data.decode("utf-8")
    assert "<img src=x" not in html and "alert(" not in html  # sites are not in the page
    doc = xss_client.get("/api/sites").get_json(force=True)
    [f] = [f for f in doc["features"] if f["id"] == "xss"]
    assert f["properties"]["name"] == XSS  # stored and served verbatim, as data
    assert xss_client.get("/api/sites").mimetype == "application/geo+json"
