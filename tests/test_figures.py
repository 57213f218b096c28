"""Report figures (geomap.figures and /imagery/.../figure.*) from real GeoTIFFs the tests make and
ingest: print size and resolution, the scene's pixels, the caption's SHA-256 and date, Korean in
the vendored font, before/after panels, the scale bar's length on the ground, bad input."""

from __future__ import annotations

import io
import math
from datetime import date

import numpy as np
import pytest
from PIL import Image
from pyproj import Geod, Transformer

from geomap import figures
from geomap.errors import InvalidInput
from geomap.imagery import ingest
from geomap.model import Tier
from geomap.store.scenes import SceneStore
from tests.conftest import https_client, make_user, sign_in, solid_geotiff

BOUNDS = (126.99, 39.99, 127.02, 40.02)  # about 2.6 x 3.3 km near 40N
INNER = (126.995, 39.995, 127.015, 40.015)
GEOD = Geod(ellps="WGS84")
RED, BLUE = 0, 2  # the band solid_geotiff lights (200)
FENCE = {"type": "Feature", "properties": {"label": "perimeter_fence", "author": "analyst-t1"},
         "geometry": {"type": "Polygon", "coordinates": [[
             [127.0, 40.0], [127.01, 40.0], [127.01, 40.01], [127.0, 40.01], [127.0, 40.0]]]}}
TOWER = {"type": "Feature", "properties": {"label": "guard_post", "change": "appeared"},
         "geometry": {"type": "Point", "coordinates": [127.01, 40.01]}}


def make_scene(root, tmp_path, band=RED, acquired=date(2014, 5, 1), name="s.tif",
               tier=Tier.INTERNAL):
    f = solid_geotiff(tmp_path / name, BOUNDS, band)
    return ingest(f, root, acquired, actor="t", sensor="TestSat-1", provider="Synthetic Imaging",
                  licence="CC BY 4.0 (test)", tier=tier)


@pytest.fixture
def root(settings):
    return settings.instance_path / "imagery"


@pytest.fixture
def red(root, tmp_path):
    return make_scene(root, tmp_path)


def cog(root, scene):
    return root / scene.id / "cog.tif"


def png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def pdf_text(data: bytes) -> tuple[str, set[str]]:
    """The PDF's text (through its fonts' ToUnicode maps) and the names of its fonts."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    fonts = set()
    for page in reader.pages:
        for f in page["/Resources"]["/Font"].values():
            fonts.add(str(f.get_object()["/BaseFont"]))
    return text, fonts


def near(rgb: np.ndarray, colour, tol=12) -> np.ndarray:
    return (np.abs(rgb[..., :3].astype(int) - np.array(colour)) <= tol).all(axis=-1)


# -- the scale bar ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lat", [0.0, 39.7, 41.5, 60.0, 75.0])
@pytest.mark.parametrize("width_km", [0.3, 2.5, 40.0])
def test_the_scale_bar_is_a_round_length_true_on_the_ground(lat, width_km):
    """Its ends, taken back to longitude/latitude, are its stated length apart on the WGS84
    ellipsoid (within 2%; it is exact to far better), the length is 1, 2 or 5 x 10^n m, and it
    is between a tenth and a quarter of the map's width."""
    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    back = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    dlon = width_km * 1000 / (111_320 * math.cos(math.radians(lat)))
    x0, y0 = tr.transform(127.0, lat - 0.01)
    x1, y1 = tr.transform(127.0 + dlon, lat + 0.01)
    bar = figures.choose_scale_bar((x0, y0, x1, y1))
    mantissa = bar.metres / 10 ** math.floor(math.log10(bar.metres))
    assert round(mantissa, 9) in (1, 2, 5)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    (la, lb), (pa, pb) = back.transform([cx - bar.merc_units / 2, cx + bar.merc_units / 2],
                                        [cy, cy])
    ground = GEOD.inv(la, pa, lb, pb)[2]
    assert abs(ground - bar.metres) / bar.metres < 0.02
    map_ground = GEOD.inv(*back.transform(x0, cy), *back.transform(x1, cy))[2]
    assert 0.1 <= bar.metres / map_ground <= 0.25
    if lat >= 39:  # drawn in map units as if they were metres, it would be >25% too long
        assert bar.merc_units / bar.metres > 1.25


# -- single-scene figure ----------------------------------------------------------------------------
def test_png_is_print_size_at_300_dpi_and_shows_the_scene_and_the_annotations(root, red):
    data = figures.render_figure(red, cog(root, red), INNER, [FENCE, TOWER], "en", "png",
                                 "Test camp (synthetic)")
    img = png(data)
    assert img.width == round(148 / 25.4 * 300)  # A5 width at 300 dpi
    assert img.height > img.width  # portrait: map, legend, caption
    assert all(abs(d - 300) < 0.5 for d in img.info["dpi"])
    rgb = np.asarray(img.convert("RGB"))
    # the red scene fills the map (most of the upper part of the page)
    assert near(rgb, (200, 0, 0)).mean() > 0.35
    # the fence in its style colour (#ffd400) and the tower's (#ff2d2d), drawn over it
    assert near(rgb, (0xff, 0xd4, 0x00), 30).sum() > 2000
    assert near(rgb, (0xff, 0x2d, 0x2d), 20).sum() > 50


def test_pdf_caption_carries_the_sha256_date_sensor_credit_and_licence(root, red):
    data = figures.render_figure(red, cog(root, red), INNER, [FENCE], "en", "pdf")
    assert data.startswith(b"%PDF-")
    text, fonts = pdf_text(data)
    flat = "".join(text.split())  # a long hash may be set on its own line
    assert red.sha256 in flat
    for needle in ("2014-05-01", "TestSat-1", "Synthetic Imaging", "CC BY 4.0 (test)",
                   "Perimeter fence", "Annotations by analyst-t1", "200 m"):
        assert needle in text, needle
    assert any("Pretendard" in f for f in fonts)  # embedded, not a system font's name


def test_korean_figure_is_set_in_the_vendored_font(root, red):
    data = figures.render_figure(red, cog(root, red), INNER, [FENCE], "ko", "pdf",
                                 "시험 관리소 (합성)")
    text, fonts = pdf_text(data)
    assert "촬영일: 2014-05-01" in text and "시험 관리소 (합성)" in text
    assert "원본 파일 SHA-256" in text and red.sha256 in "".join(text.split())
    assert any(0xAC00 <= ord(c) <= 0xD7A3 for c in text)
    assert fonts and all("Pretendard" in f or "DejaVu" in f for f in fonts)
    # the Hangul glyphs come from Pretendard (DejaVu has none)
    assert any("Pretendard" in f for f in fonts)
    img = png(figures.render_figure(red, cog(root, red), INNER, [], "ko", "png", "시험"))
    assert img.width == 1748


def test_a4_paper_and_no_site_name(root, red):
    img = png(figures.render_figure(red, cog(root, red), INNER, [], "en", "png", paper="a4"))
    assert img.width == round(210 / 25.4 * 300)


@pytest.mark.parametrize("kwargs, field", [
    ({"bbox_wgs84": (10.0, 10.0, 10.1, 10.1)}, "bbox"),   # elsewhere on Earth
    ({"bbox_wgs84": (127.0, 40.0, 127.0, 40.1)}, "bbox"),  # no width
    ({"bbox_wgs84": (127.0, 89.0, 127.1, 89.5)}, "bbox"),  # beyond Web Mercator
    ({"bbox_wgs84": (127.0, 40.0)}, "bbox"),
    ({"lang": "fr"}, "lang"),
    ({"fmt": "gif"}, "format"),
    ({"paper": "letter"}, "paper"),
    ({"features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": 5}}]},
     "features"),
])
def test_bad_input_is_invalid_input_naming_it(root, red, kwargs, field):
    args = {"bbox_wgs84": INNER, "features": [], "lang": "en", "fmt": "png", **kwargs}
    with pytest.raises(InvalidInput) as e:
        figures.render_figure(red, cog(root, red), **args)
    assert e.value.field == field


# -- before / after ---------------------------------------------------------------------------------
def test_before_after_has_two_panels_of_two_dates(root, tmp_path, red):
    blue = make_scene(root, tmp_path, band=BLUE, acquired=date(2019, 10, 2), name="b.tif")
    data = figures.render_before_after(red, cog(root, red), blue, cog(root, blue), INNER,
                                       [FENCE], [FENCE, TOWER], "en", "png")
    img = png(data)
    assert img.width == round(210 / 25.4 * 300)
    rgb = np.asarray(img.convert("RGB"))
    half = rgb.shape[1] // 2
    # left panel red (before), right panel blue (after), same size
    left_red = near(rgb[:, :half], (200, 0, 0)).sum()
    right_blue = near(rgb[:, half:], (0, 0, 200)).sum()
    assert left_red > 0.2 * rgb[:, :half].shape[0] * half
    assert abs(left_red - right_blue) / left_red < 0.05
    assert near(rgb[:, :half], (0, 0, 200)).sum() == 0 == near(rgb[:, half:], (200, 0, 0)).sum()
    text, _ = pdf_text(figures.render_before_after(
        red, cog(root, red), blue, cog(root, blue), INNER, lang="ko", fmt="pdf"))
    flat = "".join(text.split())
    assert "이전: 2014-05-01" in text and "이후: 2019-10-02" in text
    assert red.sha256 in flat and blue.sha256 in flat


# -- web ----------------------------------------------------------------------------------------------
@pytest.fixture
def web(ref_store, settings, tmp_path, root):
    from geomap.web import create_app

    red = make_scene(root, tmp_path)
    blue = make_scene(root, tmp_path, band=BLUE, acquired=date(2019, 10, 2), name="b.tif")
    SceneStore(ref_store).add(red, actor="t")
    SceneStore(ref_store).add(blue, actor="t")
    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    return app, sign_in(https_client(app), user.username, secret), red, blue


def test_figure_routes_answer_png_and_pdf(web):
    _, client, red, blue = web
    bbox = ",".join(map(str, INNER))
    r = client.get(f"/imagery/{red.id}/figure.png?bbox={bbox}&lang=ko")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert png(r.data).width == 1748 and "no-store" in r.headers["Cache-Control"]
    r = client.get(f"/imagery/{red.id}/figure.pdf")  # no bbox: the scene's footprint
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert red.sha256 in "".join(pdf_text(r.data)[0].split())
    r = client.get(f"/imagery/figure/before-after.png?before={red.id}&after={blue.id}")
    assert r.status_code == 200 and png(r.data).width == 2480
    page = client.get("/imagery/").data.decode()
    assert f"/imagery/{red.id}/figure.pdf" in page and "/imagery/figure/before-after.pdf" in page


@pytest.mark.parametrize("path, field", [
    ("/imagery/{red}/figure.png?bbox=1,2,3", "bbox"),
    ("/imagery/{red}/figure.png?bbox=10,10,10.1,10.1", "bbox"),
    ("/imagery/{red}/figure.png?lang=fr", "lang"),
    ("/imagery/{red}/figure.png?paper=letter", "paper"),
    ("/imagery/{red}/figure.png?colour=red", "colour"),
    ("/imagery/figure/before-after.png?before={red}", "after"),
    ("/imagery/figure/before-after.png?before={red}&after={red}", "after"),
])
def test_bad_parameters_are_a_400_naming_them(web, path, field):
    _, client, red, _ = web
    r = client.get(path.format(red=red.id), headers={"Accept": "application/json"})
    assert r.status_code == 400, r.data[:300]
    assert field in r.get_data(as_text=True)


def test_a_scene_the_viewer_may_not_see_has_no_figure(web, ref_store, settings):
    app, client, red, _ = web
    assert client.get(f"/imagery/{'0' * 32}/figure.png").status_code == 404
    assert client.get("/imagery/../etc/figure.png").status_code == 404
    user, secret, _ = make_user(ref_store, "viewer")  # sees partner and public tiers only
    viewer = sign_in(https_client(app), user.username, secret)
    assert viewer.get(f"/imagery/{red.id}/figure.png").status_code == 404
    anon = https_client(app).get(f"/imagery/{red.id}/figure.png")
    assert anon.status_code == 302 and "/login" in anon.headers["Location"]


def test_the_scene_figure_draws_the_scenes_annotations(web, ref_store):
    """Through the annotations export: the figure shows what the GeoJSON export holds, with
    its label in the legend and its author in the caption; the other scene's figure has none."""
    from geomap import annotations as ann
    from geomap.policy import Principal, Role

    _, client, red, blue = web
    ann.create(ref_store, Principal(None, "analyst-t2", Role.ANALYST),
               {"scene_id": red.id, "label": "perimeter_fence", "confidence": "high",
                "geometry": FENCE["geometry"]})
    bbox = ",".join(map(str, INNER))
    rgb = np.asarray(png(client.get(f"/imagery/{red.id}/figure.png?bbox={bbox}").data)
                     .convert("RGB"))
    assert near(rgb, (0xff, 0xd4, 0x00), 30).sum() > 2000
    text, _ = pdf_text(client.get(f"/imagery/{red.id}/figure.pdf?bbox={bbox}").data)
    assert "Perimeter fence" in text and "Annotations by analyst-t2" in text
    text, _ = pdf_text(client.get(f"/imagery/{blue.id}/figure.pdf?bbox={bbox}").data)
    assert "Perimeter fence" not in text and "Annotations by" not in text


def test_a_16_bit_grey_scene_is_shown_with_its_display_range_and_nodata_left_grey(root, tmp_path):
    """As its tiles show it: the scene's recorded range stretched to 0-255, nodata transparent
    (the map's light grey shows through, not black)."""
    from tests.test_imagery import LL_BOUNDS, make_tif

    f = make_tif(tmp_path / "u16.tif", crs="EPSG:4326", bounds=LL_BOUNDS, dtype="uint16",
                 bands=1, nodata=0)
    s = ingest(f, root, date(2015, 1, 1), actor="t")
    rgb = np.asarray(png(figures.render_figure(s, cog(root, s), LL_BOUNDS, [], "en", "png"))
                     .convert("RGB"))
    grey = near(rgb, (0xd9, 0xd9, 0xd9), 3)
    # the nodata quarter: rows grey across most of the page's width
    rows = np.nonzero(grey.mean(axis=1) > 0.7)[0]
    assert len(rows) > 200
    top = rows.min()
    cols = np.nonzero(grey[top + 5])[0]
    left, right = cols.min(), cols.max()
    # just above it, the data: 3000 of 16 bits shown white (not transparent, not black)
    above = rgb[top - 200:top - 5, left + 50:right - 50]
    assert near(above, (255, 255, 255), 3).mean() > 0.99


def test_user_text_with_tex_markup_and_great_length_is_set_as_text(root, tmp_path):
    """A site name, sensor or licence with "$" signs is printed as written (not parsed as
    mathtext, which would fail or change it); a very long site name wraps within the page."""
    f = solid_geotiff(tmp_path / "t.tif", BOUNDS, RED)
    s = ingest(f, root, date(2016, 7, 8), actor="t", sensor=r"Sat $\frac{1}{$",
               licence=r"price $5 or $\alpha$ <b>x</b>")
    name = r"Camp $x^2$ " + "very long name " * 20
    data = figures.render_figure(s, cog(root, s), INNER, [], "en", "pdf", name)
    text, _ = pdf_text(data)
    flat = " ".join(text.split())
    assert r"Sat $\frac{1}{$" in flat and r"price $5 or $\alpha$ <b>x</b>" in flat
    assert r"Camp $x^2$ very long name" in flat
    img = png(figures.render_figure(s, cog(root, s), INNER, [], "en", "png", name))
    assert img.width == 1748


def test_a_site_figure_is_titled_by_the_site_and_framed_on_its_area(web, ref_store):
    from shapely.geometry import Point

    from geomap.model import FacilityType, Precision, Site

    _, client, red, _ = web
    ref_store.upsert_sites([Site(key="t-fig-camp", name="Figure test camp (synthetic)",
                                 facility_type=FacilityType("kwalliso"),
                                 geometry=Point(127.005, 40.005), precision=Precision.EXACT,
                                 tier=Tier.PUBLIC)])
    r = client.get(f"/imagery/{red.id}/figure.pdf?site=t-fig-camp&lang=en")
    assert r.status_code == 200
    from pypdf import PdfReader

    assert PdfReader(io.BytesIO(r.data)).metadata.title == "Figure test camp (synthetic)"
    text, _ = pdf_text(r.data)
    assert "Figure test camp (synthetic)" in text
    # exact precision (10 m), framed on at least 1 km around the point: a 200 m scale bar
    assert "200 m" in text
    assert client.get(f"/imagery/{red.id}/figure.pdf?site=no-such-site").status_code == 404
