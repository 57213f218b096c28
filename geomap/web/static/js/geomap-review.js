/* Review queue: one proposed link at a time, decided from the keyboard. Text only through
   textContent; decisions are POSTed as JSON with the CSRF token from the page's meta tag. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gm-review-data").textContent);
  const items = data.items, L_ = data.labels, V = data.vocab;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let i = 0, map = null, layer = null;
  const $ = (id) => document.getElementById(id);

  function row(dl, label, value) {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    dl.append(dt, dd);
  }

  function show() {
    const left = items.filter((x) => !x.done).length;
    // the whole queue's size, less what was decided here (this page holds at most 50)
    const leftAll = Math.max(left, (data.total || items.length) - (items.length - left));
    $("gm-left").textContent = leftAll + " " + L_.left;
    if (!left) {
      $("gm-review-item").hidden = true;
      $(leftAll > 0 ? "gm-review-more" : "gm-review-empty").hidden = false;
      return;
    }
    while (items[i].done) i = (i + 1) % items.length;
    const it = items[i], ev = it.evidence;
    $("gm-review-item").hidden = false;
    $("gm-r-title").textContent = (it.synthetic ? "[" + L_.synthetic + "] " : "") +
      L_.testimony + " " + (it.witness_code || "#" + it.testimony_id) + " → " + it.site_name;
    $("gm-r-open").href = data.testimony_url.replace(/\/0$/, "/" + it.testimony_id);
    const dl = $("gm-r-facts"); dl.textContent = "";
    if (it.status === "ambiguous") row(dl, "!", L_.ambiguous);
    row(dl, L_.place, it.place_text);
    row(dl, L_.period, it.period);
    row(dl, L_.violations, it.violations.map((v) => V.violations[v] || v).join(", "));
    row(dl, L_.relationship, V.relationships[it.relationship] || it.relationship);
    row(dl, L_.distance, ev.distance_m.toLocaleString() + " m");
    row(dl, L_.radii, Math.round(ev.testimony_radius_m).toLocaleString() + " m / " +
        Math.round(ev.site_radius_m).toLocaleString() + " m");
    row(dl, L_.name, ev.name_match ? ev.name_match + " (×" + ev.name_score + ")" : "—");
    // the engine's score is a probability (geomap.link_model)
    const pct = (p) => Math.round(p * 100) + "%";
    if (ev.words) row(dl, L_.words, ev.words.split(", ").map(
      (w) => V.types[w] || V.authorities[w] || w).join(", "));
    row(dl, L_.score, pct(it.score));
    if (ev.unlisted_probability != null) row(dl, L_.unlisted, pct(ev.unlisted_probability));
    const grades = V.grades || {};
    row(dl, L_.grade, (grades[it.grade_now] || it.grade_now) + " → " +
        (grades[it.grade_if_confirmed] || it.grade_if_confirmed));
    if (ev.runner_up) row(dl, L_.runner, ev.runner_up.name + " (" + pct(ev.runner_up.score) + ")");
    draw(it);
  }

  function draw(it) {
    if (!map) {
      map = L.map("gm-review-map", { zoomControl: true, attributionControl: false, maxZoom: 19 });
      geomap.scaleBar(map);
      if (data.basemap) geomap.basemap(map, data.basemap).addTo(map);
      geomap.contextBoundaries(map, data.boundaries);
      layer = L.featureGroup().addTo(map);
    }
    map.invalidateSize();
    layer.clearLayers();
    const t = [it.lat, it.lon], s = [it.site_lat, it.site_lon];
    // a view first: circles can only measure themselves on a map that has one
    map.fitBounds(L.latLngBounds([t, s]).pad(0.5), { padding: [30, 30], maxZoom: 14 });
    L.circle(s, { radius: it.evidence.site_radius_m, color: "#D55E00", weight: 2, fillOpacity: 0.08 }).addTo(layer);
    L.circleMarker(s, { radius: 7, color: "#fff", weight: 2, fillColor: "#D55E00", fillOpacity: 1 }).addTo(layer);
    L.circle(t, { radius: it.radius_m || 1, color: "#b8860b", weight: 2, fillOpacity: 0.08 }).addTo(layer);
    L.circleMarker(t, { radius: 5, color: "#222", weight: 1, fillColor: "#ffd400", fillOpacity: 1 }).addTo(layer);
    L.polyline([t, s], { color: "#333", weight: 1, dashArray: "4 4" }).addTo(layer);

  }

  async function post(body) {
    const r = await fetch("/api/links/decide", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(r.status);
  }

  async function act(action) {
    const it = items[i];
    if (!it) return;
    if (action === "next") { i = (i + 1) % items.length; return show(); }
    if (action === "prev") { i = (i - 1 + items.length) % items.length; return show(); }
    try {
      if (action === "confirm") await post({ testimony_id: it.testimony_id, site_id: it.site_id, status: "confirmed" });
      if (action === "reject") await post({ testimony_id: it.testimony_id, site_id: it.site_id, status: "rejected" });
      if (action === "different") {
        const other = it.evidence.runner_up;
        if (!other) return;
        await post({ testimony_id: it.testimony_id, site_id: it.site_id, status: "rejected" });
        await post({ testimony_id: it.testimony_id, site_id: other.site_id, status: "confirmed" });
      }
      // an ambiguous pair is one decision: both entries of the testimony are done
      for (const x of items) if (x.testimony_id === it.testimony_id) x.done = true;
      $("gm-r-status").textContent = L_.saved;
      show();
    } catch (e) {
      $("gm-r-status").textContent = L_.error + " (" + e.message + ")";
    }
  }

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = { c: "confirm", r: "reject", d: "different", j: "next", k: "prev" }[e.key.toLowerCase()];
    if (key) { e.preventDefault(); act(key); }
  });
  document.querySelectorAll("[data-action]").forEach((b) =>
    b.addEventListener("click", () => act(b.dataset.action)));
  show();
})();
