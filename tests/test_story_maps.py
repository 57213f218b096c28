"""Story maps (issue 14, item 4): a publication with ordered steps (a title, plain text, a map
view, its layers, optionally a figure rendered at publish time). Compose validation names the
step and field; the snapshot carries only the allow-listed step fields; the figure is stored
with the snapshot and served from it (never rendered on request); the static export copies it;
a publication without steps is unchanged."""

from __future__ import annotations

import json

import pytest

from geomap import embeds
from geomap import publications as pubs
from geomap.errors import InvalidInput

from .conftest import https_client
from .test_publications import FULL, RESEARCHER, plant

PNG = b"\x89PNG\r\n\x1a\n"
STEP_TEXT = "STEPTEXT-ONLY synthetic caption\nsecond line <b>not bold</b>"


@pytest.fixture
def world(store, settings, tmp_path):
    return plant(store, settings, tmp_path)


def story(world, **over) -> dict:
    steps = [
        {"title": "Overview", "text": "The whole area.", "layers": ["sites", "cells"]},
        {"title": "Camp Alpha", "text": STEP_TEXT, "fit": "syn-alpha",
         "layers": ["sites", "annotations"], "scene": world["scene"],
         "figure": {"scene": world["scene"], "bbox": [127.01, 40.0, 127.05, 40.02]}},
        {"title": "Close view", "text": "", "center": [40.0123456, 127.0512345], "zoom": 12,
         "layers": ["sites"]},
    ]
    return {**FULL, "scene_ids": world["scene"], "steps": steps, **over}


def _published(store, settings, slug, data):
    rec = pubs.create(store, RESEARCHER, slug, data)
    pubs.publish(store, RESEARCHER, rec.id, imagery_dir=settings.instance_path / "imagery")
    return rec, pubs.get_published(store, slug)


def test_compose_keeps_valid_steps(store, world):
    st = pubs.compose(store, RESEARCHER, story(world))
    assert [s["title"] for s in st["steps"]] == ["Overview", "Camp Alpha", "Close view"]
    assert st["steps"][1]["view"] == {"fit": ["syn-alpha"]}
    # a view needs no more than ~100 m
    assert st["steps"][2]["view"] == {"center": [40.012, 127.051], "zoom": 12}
    assert st["steps"][1]["figure"]["scene"] == world["scene"]
    assert "steps" not in pubs.compose(store, RESEARCHER, FULL)  # no steps: unchanged


@pytest.mark.parametrize("step, field", [
    ({"title": ""}, "steps[2].title"),
    ({"title": "x" * 201}, "steps[2].title"),
    ({"title": "t", "text": "x" * 2001}, "steps[2].text"),
    ({"title": "t", "fit": "syn-hidden"}, "steps[2].fit"),        # an internal site
    ({"title": "t", "fit": "no-such-site"}, "steps[2].fit"),
    ({"title": "t", "center": [95, 127], "zoom": 5}, "steps[2].center"),
    ({"title": "t", "center": [40, 127], "zoom": 30}, "steps[2].center"),
    ({"title": "t", "center": "here", "zoom": 5}, "steps[2].center"),
    ({"title": "t", "layers": ["testimonies"]}, "steps[2].layers"),
    ({"title": "t", "scene": "closed"}, "steps[2].scene"),
    ({"title": "t", "figure": {"scene": "closed"}}, "steps[2].figure"),
    ({"title": "t", "figure": {"scene": "SCENE", "bbox": [1, 2, 3]}}, "steps[2].figure"),
])
def test_compose_names_the_bad_step_and_field(store, world, step, field):
    fig = step.get("figure")
    if fig and fig.get("scene") == "SCENE":
        step = {**step, "figure": {**fig, "scene": world["scene"]}}
    if step.get("scene") == "closed" or (fig and fig.get("scene") == "closed"):
        # a public scene without an open licence is not one of the publication's scenes
        step = {**step, **({"scene": world["closed_scene"]} if "scene" in step else
                           {"figure": {"scene": world["closed_scene"]}})}
    data = {**FULL, "scene_ids": world["scene"], "steps": [{"title": "ok"}, step]}
    with pytest.raises(InvalidInput) as e:
        pubs.compose(store, RESEARCHER, data)
    assert e.value.field == field


def test_compose_limits_the_number_of_steps(store, world):
    with pytest.raises(InvalidInput) as e:
        pubs.compose(store, RESEARCHER, {**FULL, "steps": [{"title": "s"}] * 31})
    assert e.value.field == "steps"
    assert len(pubs.compose(store, RESEARCHER, {**FULL, "steps": [{"title": "s"}] * 30})
               ["steps"]) == 30


def test_a_step_fits_only_sites_of_the_publication(store, world):
    only_beta = {**FULL, "site_keys": "syn-beta", "steps": [{"title": "t", "fit": "syn-alpha"}]}
    with pytest.raises(InvalidInput) as e:
        pubs.compose(store, RESEARCHER, only_beta)
    assert e.value.field == "steps[1].fit"


def test_snapshot_steps_carry_only_allowed_fields(store, settings, world):
    _, snap = _published(store, settings, "story-one", story(world, site_precision="grid",
                                                               site_grid_km="5"))
    steps = snap["steps"]
    assert len(steps) == 3
    for s in steps:
        assert set(s) == set(pubs.STEP_FIELDS)
    assert steps[0]["view"] is None and steps[0]["layers"] == ["sites", "cells"]
    assert steps[2]["view"] == {"center": [40.012, 127.051], "zoom": 12}
    # fitted to Alpha's PUBLISHED (grid-snapped) point, not to its record's position
    alpha = next(f for f in snap["sites"]["features"]
                 if f["properties"]["name"] == "Synthetic camp Alpha")
    lon, lat = alpha["geometry"]["coordinates"]
    (s, w), (n, e) = steps[1]["view"]["bounds"]
    assert s < lat < n and w < lon < e
    assert abs((s + n) / 2 - lat) < 1e-3 and abs((w + e) / 2 - lon) < 1e-3
    assert steps[1]["scene"] == world["scene"] and steps[1]["figure"] == "step-2.png"
    assert steps[0]["figure"] is None
    # the rest of the contract is what it was
    _, plain = _published(store, settings, "no-story", FULL)
    assert "steps" not in plain and "figures" not in plain
    assert set(snap) - {"steps", "figures"} == set(plain)


def test_figure_is_rendered_at_publish_time_and_served_from_the_snapshot(
        store, settings, world, monkeypatch):
    from geomap import figures
    from geomap.web import create_app

    _, snap = _published(store, settings, "story-fig", story(world))
    png = pubs.published_figure(snap, "step-2.png")
    assert png and png.startswith(PNG)
    assert pubs.published_figure(snap, "../settings.png") is None

    def no_render(*a, **k):  # a public request must never render from live data
        raise AssertionError("rendered on request")

    monkeypatch.setattr(figures, "render_figure", no_render)
    app = create_app(settings, store)
    app.config["TESTING"] = True
    client = https_client(app)
    for url in ("/p/story-fig/figures/step-2.png", "/embed/story-fig/figures/step-2.png"):
        r = client.get(url)
        assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png, url
        assert "Set-Cookie" not in r.headers
    assert client.get("/p/story-fig/figures/step-1.png").status_code == 404
    assert client.get("/p/story-fig/figures/x.png").status_code == 404
    doc = client.get("/p/story-fig.json").get_json()
    assert "figures" not in doc and doc["steps"][1]["figure"] == "step-2.png"
    page = client.get("/p/story-fig").get_data(as_text=True)
    assert 'src="/p/story-fig/figures/step-2.png"' in page
    assert 'id="step-3"' in page and "gm-story" in page
    # the step text is text: escaped, never HTML
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
    embed = client.get("/embed/story-fig").get_data(as_text=True)
    assert 'src="/embed/story-fig/figures/step-2.png"' in embed


def test_static_export_contains_the_figures(store, settings, world, tmp_path):
    _, snap = _published(store, settings, "story-export", story(world))
    out = tmp_path / "export"
    embeds.export_static(store, settings, snap, out, max_zoom=10)
    fig = out / "figures" / "step-2.png"
    assert fig.read_bytes() == pubs.published_figure(snap, "step-2.png")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="figures/step-2.png"' in page and "STEPTEXT-ONLY" in page
    data = json.loads(page.split('id="gm-embed-data">', 1)[1].split("</script>", 1)[0])
    assert [s["view"] for s in data["steps"]][2] == {"center": [40.012, 127.051], "zoom": 12}
    assert set(data["steps"][0]) == {"view", "layers", "scene"}  # the text is in the HTML


def test_publish_without_imagery_dir_leaves_the_figure_out(store, settings, world):
    rec = pubs.create(store, RESEARCHER, "story-nofig", story(world))
    pubs.publish(store, RESEARCHER, rec.id)
    snap = pubs.get_published(store, "story-nofig")
    assert snap["steps"][1]["figure"] is None and "figures" not in snap


def test_step_text_is_the_only_new_text(store, settings, world):
    """Leak check on the story: the snapshot's steps hold the publisher's words and nothing of
    the records (no site key, no note, no testimony)."""
    _, snap = _published(store, settings, "story-leak", story(world))
    blob = json.dumps(snap["steps"], ensure_ascii=False)
    assert "STEPTEXT-ONLY" in blob
    for secret in ("syn-alpha", "syn-hidden", "RESEARCHNOTE", "WCODE-LEAK", "NARRATIVE-LEAK",
                   "ANNOTATIONNOTE", "127.0512347", "40.0123459"):
        assert secret not in blob, secret


def test_edit_records_steps_as_changed(store, world):
    rec = pubs.create(store, RESEARCHER, "story-edit", story(world))
    pubs.edit(store, RESEARCHER, rec.id, FULL)
    assert "steps" not in pubs.get(store, RESEARCHER, rec.id).settings


# -- the steps editor: the form without the page's script -------------------------------------
def test_the_form_saves_steps_without_script(store, settings, world):
    from geomap.web import create_app

    from .conftest import csrf_from, make_user, sign_in

    app = create_app(settings, store)
    app.config["TESTING"] = True
    user, secret, _ = make_user(store, "researcher")
    c = sign_in(https_client(app), user.username, secret)
    rec = pubs.create(store, RESEARCHER, "story-form", {**FULL, "scene_ids": world["scene"]})
    url = f"/publications/{rec.id}"
    html = c.get(url + "?lang=ko").get_data(as_text=True)
    assert "이야기 단계" in html and 'name="step-0-title"' in html  # the empty new step
    token = csrf_from(html)
    base = {**FULL, "csrf_token": token, "layers": ["sites", "cells", "annotations"],
            "scene_ids": [world["scene"]]}
    steps = {"step-0-title": "First", "step-0-text": "One.", "step-0-layers": ["sites"],
             "step-1-title": "Second", "step-1-text": "Two <i>x</i>", "step-1-lat": "40.01",
             "step-1-lon": "127.03", "step-1-zoom": "12", "step-1-figure_scene": world["scene"],
             "step-1-figure_bbox": "127.01, 40.0, 127.05, 40.02",
             "step-2-title": "", "step-2-text": ""}  # the empty new-step row: ignored
    r = c.post(url, data={**base, **steps})
    assert r.status_code == 302, r.get_data(as_text=True)[:800]
    st = pubs.get(store, RESEARCHER, rec.id).settings["steps"]
    assert [s["title"] for s in st] == ["First", "Second"]
    assert st[1]["view"] == {"center": [40.01, 127.03], "zoom": 12}
    assert st[1]["figure"] == {"scene": world["scene"], "bbox": [127.01, 40.0, 127.05, 40.02]}
    html = c.get(url).get_data(as_text=True)
    assert 'value="Second"' in html and "Two &lt;i&gt;x&lt;/i&gt;" in html
    assert 'name="step-2-title"' in html  # and a new empty one after them
    # remove the first by its checkbox
    r = c.post(url, data={**base, **steps, "step-0-remove": "1"})
    assert [s["title"] for s in pubs.get(store, RESEARCHER, rec.id).settings["steps"]] == \
        ["Second"]
    # a bad step is a 400 naming the step and the field, with the form as it was sent
    bad = c.post(url + "?lang=en", data={**base, "step-0-title": "Bad", "step-0-fit": "syn-hidden"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "step 1, fit" in body and 'value="Bad"' in body
    # publishing from the page renders the figure into the snapshot
    assert c.post(url + "/publish", data={"csrf_token": token}).status_code == 302
    snap = pubs.get_published(store, "story-form")
    assert snap["steps"][0]["figure"] == "step-1.png"
    assert pubs.published_figure(snap, "step-1.png").startswith(PNG)
