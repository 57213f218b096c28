/* Annotating one imagery scene: draw points, lines and polygons (Leaflet-Geoman, opt-in mode:
   only the drawings are Geoman's), label them in the side form, save them through the JSON
   API (CSRF token from the page's meta tag), see each one's history. Lengths and areas show
   live while drawing, computed on the WGS84 ellipsoid; after a save the server's (pyproj)
   figures are shown. People's text goes in with textContent only. */
(function () {
  "use strict";
  const d = JSON.parse(document.getElementById("gm-annotate-data").textContent);
  const T = d.text, V = d.vocab;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const el = $("gm-annotate-map");
  if (!window.L) { el.hidden = true; return; }
  const editable = d.can_edit && !!L.PM;
  if (L.PM) L.PM.setOptIn(true);

  // -- geodesic measures on WGS84 -------------------------------------------------------------
  const A = 6378137.0, F = 1 / 298.257223563, B = A * (1 - F), E2 = F * (2 - F), E = Math.sqrt(E2);
  const rad = (x) => x * Math.PI / 180;
  /* Vincenty's inverse formula: metres between two lat/lng (mm-accurate; our features are
     kilometres long, never near-antipodal). */
  function distance(p, q) {
    const L1 = rad(q.lng - p.lng);
    const U1 = Math.atan((1 - F) * Math.tan(rad(p.lat))), U2 = Math.atan((1 - F) * Math.tan(rad(q.lat)));
    const sU1 = Math.sin(U1), cU1 = Math.cos(U1), sU2 = Math.sin(U2), cU2 = Math.cos(U2);
    let lam = L1, prev, sS, cS, sig, ca2, c2m, i = 0;
    do {
      const sl = Math.sin(lam), cl = Math.cos(lam);
      sS = Math.sqrt((cU2 * sl) ** 2 + (cU1 * sU2 - sU1 * cU2 * cl) ** 2);
      if (sS === 0) return 0;
      cS = sU1 * sU2 + cU1 * cU2 * cl;
      sig = Math.atan2(sS, cS);
      const sa = cU1 * cU2 * sl / sS;
      ca2 = 1 - sa * sa;
      c2m = ca2 ? cS - 2 * sU1 * sU2 / ca2 : 0;
      const C = F / 16 * ca2 * (4 + F * (4 - 3 * ca2));
      prev = lam;
      lam = L1 + (1 - C) * F * sa * (sig + C * sS * (c2m + C * cS * (-1 + 2 * c2m * c2m)));
    } while (Math.abs(lam - prev) > 1e-12 && ++i < 200);
    const u2 = ca2 * (A * A - B * B) / (B * B);
    const kA = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
    const kB = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
    const dS = kB * sS * (c2m + kB / 4 * (cS * (-1 + 2 * c2m * c2m) -
      kB / 6 * c2m * (-3 + 4 * sS * sS) * (-3 + 4 * c2m * c2m)));
    return B * kA * (sig - dS);
  }
  function pathLength(pts, closed) {
    let m = 0;
    for (let k = 1; k < pts.length; k++) m += distance(pts[k - 1], pts[k]);
    if (closed && pts.length > 2) m += distance(pts[pts.length - 1], pts[0]);
    return m;
  }
  /* Area on the authalic sphere (equal area to the ellipsoid): latitudes become authalic
     ones, then the spherical trapezoid sum. Plenty for outlines a few km across. */
  const q = (s) => (1 - E2) * (s / (1 - E2 * s * s) - Math.log((1 - E * s) / (1 + E * s)) / (2 * E));
  const QP = q(1), RQ = A * Math.sqrt(QP / 2);
  function area(pts) {
    if (pts.length < 3) return 0;
    let s = 0;
    for (let k = 0; k < pts.length; k++) {
      const p1 = pts[k], p2 = pts[(k + 1) % pts.length];
      const b1 = Math.asin(q(Math.sin(rad(p1.lat))) / QP), b2 = Math.asin(q(Math.sin(rad(p2.lat))) / QP);
      s += rad(p2.lng - p1.lng) * (2 + Math.sin(b1) + Math.sin(b2));
    }
    return Math.abs(s * RQ * RQ / 2);
  }
  function kindOf(layer) {
    return layer instanceof L.Polygon ? "polygon" : layer instanceof L.Polyline ? "line" : "point";
  }
  function measureOf(layer) {
    const kind = kindOf(layer);
    if (kind === "point") return { length: null, area: null };
    if (kind === "line") return { length: pathLength(layer.getLatLngs(), false), area: null };
    const ring = layer.getLatLngs()[0];
    return { length: pathLength(ring, true), area: area(ring) };
  }
  const num = (x, digits) => x.toLocaleString(document.documentElement.lang || "en",
    { maximumFractionDigits: digits, minimumFractionDigits: digits });
  function showMeasure(m, kind) {
    const out = $("gm-ann-measure");
    out.textContent = "";
    out.dataset.lengthM = m.length == null ? "" : String(m.length);
    out.dataset.areaM2 = m.area == null ? "" : String(m.area);
    const parts = [];
    if (m.length != null) parts.push((kind === "polygon" ? T.perimeter : T.length) + ": " + num(m.length, 1) + " m");
    if (m.area != null) parts.push(T.area + ": " + num(m.area, 0) + " m² (" + num(m.area / 1e6, 4) + " km²)");
    out.textContent = parts.join(" · ");
  }

  // -- the map ---------------------------------------------------------------------------------
  const sc = d.scene;
  const bounds = L.latLngBounds(sc.bounds[0], sc.bounds[1]);
  const maxZoom = Math.max(19, (sc.maxzoom || 17) + 2);
  const map = L.map(el, { attributionControl: true, maxZoom: maxZoom, pmIgnore: false });
  map.attributionControl.setPrefix("Leaflet");
  // scale bar, north arrow, and the scene's opacity / brightness / contrast
  geomap.imageryAids.mapAids(map);
  if (d.basemap) geomap.basemap(map, d.basemap).addTo(map);
  const sceneLayer = L.tileLayer(sc.tiles, { bounds: bounds, maxNativeZoom: sc.maxzoom, maxZoom: maxZoom,
    // Leaflet inserts attributions as HTML: the licence is a person's text
    attribution: geomap.htmlText(sc.attribution) }).addTo(map);
  const aidsRow = $("gm-ann-aids");
  if (aidsRow) aidsRow.append(geomap.imageryAids.adjust(sceneLayer, aidsRow.dataset.title));
  map.fitBounds(bounds);
  if (editable) {
    map.pm.setLang(document.documentElement.lang.slice(0, 2) === "ko" ? "ko" : "en");
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: true, drawPolyline: true,
      drawRectangle: true, drawPolygon: true, drawCircle: false, drawText: false,
      cutPolygon: false, rotateMode: false, dragMode: true, editMode: true, removalMode: false,
    });
    map.pm.setPathOptions({ color: "#ffd400", weight: 3, pmIgnore: false });
    map.pm.setGlobalOptions({ pathOptions: { color: "#ffd400", weight: 3 },
      templineStyle: { color: "#ffd400" }, hintlineStyle: { color: "#ffd400", dashArray: "5,5" } });
  }

  // the sites' reported points, for reference
  for (const s of d.sites || []) {
    const m = L.circleMarker([s.lat, s.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#D55E00",
      fillOpacity: 0.9, pmIgnore: true, interactive: true }).addTo(map);
    const label = document.createElement("span");
    label.textContent = s.name + " · " + T.reported;
    m.bindTooltip(label);
  }

  const colour = (label) => V.colours[label] || "#ffd400";
  function style(layer) {
    const c = colour(layer.gm.label), sel = layer === selected;
    if (kindOf(layer) === "point") layer.setStyle({ color: sel ? "#000" : "#fff", weight: sel ? 3 : 2, fillColor: c, fillOpacity: 1 });
    else layer.setStyle({ color: c, weight: sel ? 5 : 3, fillOpacity: 0.15, dashArray: layer.gm.dirty ? "6,4" : null });
  }
  const layers = [];
  let selected = null;

  function fromGeometry(g) {
    const ll = (c) => [c[1], c[0]];
    const opts = { pmIgnore: !editable };
    if (g.type === "Point") return L.circleMarker(ll(g.coordinates), Object.assign({ radius: 7 }, opts));
    if (g.type === "LineString") return L.polyline(g.coordinates.map(ll), opts);
    return L.polygon(g.coordinates.map((r) => r.map(ll)), opts);
  }
  function watch(layer) {
    layers.push(layer);
    layer.on("click", (e) => { L.DomEvent.stopPropagation(e); select(layer); });
    layer.on("pm:edit pm:dragend pm:markerdragend pm:vertexremoved pm:vertexadded", () => {
      layer.gm.dirty = true;
      if (layer === selected) { showMeasure(measureOf(layer), kindOf(layer)); status(""); }
      style(layer);
    });
    layer.on("pm:markerdrag pm:drag", () => { if (layer === selected) showMeasure(measureOf(layer), kindOf(layer)); });
    style(layer);
  }
  for (const a of d.annotations) {
    const layer = fromGeometry(a.geometry).addTo(map);
    layer.gm = a;
    watch(layer);
  }

  // live figures while a line or polygon is being drawn: the placed corners plus the cursor
  let drawing = null;
  map.on("pm:drawstart", (e) => {
    drawing = e.workingLayer;
    const kind = e.shape === "Polygon" ? "polygon" : e.shape === "Line" ? "line" : null;
    if (!kind || !drawing) return;
    const live = (cursor) => {
      const pts = drawing.getLatLngs().slice();
      if (cursor) pts.push(cursor);
      showMeasure(kind === "line" ? { length: pathLength(pts, false), area: null }
        : { length: pathLength(pts, true), area: area(pts) }, kind);
    };
    drawing.on("pm:vertexadded", () => live(null));
    map.on("mousemove", map._gmLive = (ev) => live(ev.latlng));
  });
  map.on("pm:drawend", () => { if (map._gmLive) map.off("mousemove", map._gmLive); map._gmLive = null; drawing = null; });
  map.on("pm:create", (e) => {
    const layer = e.layer;
    layer.gm = { id: null, label: $("gm-ann-label").value, confidence: "medium", dirty: true };
    watch(layer);
    select(layer);
  });

  // -- the side form ---------------------------------------------------------------------------
  const form = $("gm-ann-form");
  const fields = ["label", "confidence", "site_id", "change", "change_scene_id", "note"];
  const input = { label: $("gm-ann-label"), confidence: $("gm-ann-confidence"), site_id: $("gm-ann-site"),
    change: $("gm-ann-change"), change_scene_id: $("gm-ann-earlier"), note: $("gm-ann-note") };
  function status(text) { $("gm-ann-status").textContent = text; }
  function title(a) {
    return (V.labels[a.label] || a.label || "") + (a.id ? " #" + a.id : "");
  }
  function select(layer) {
    const was = selected;
    selected = layer;
    if (was && was !== layer) style(was);
    style(layer);
    const a = layer.gm;
    form.hidden = false;
    $("gm-ann-form-title").textContent = title(a);
    for (const f of fields) {
      if (!input[f]) continue;
      const v = a[f];
      input[f].value = v === null || v === undefined ? (f === "confidence" ? "medium" : f === "label" ? input[f].value : "") : String(v);
    }
    status("");
    const m = a.dirty || a.length_m === undefined ? measureOf(layer) : { length: a.length_m, area: a.area_m2 };
    showMeasure(m, kindOf(layer));
    confirmButton();
    history(a.id);
    renderList();
  }
  function confirmButton() {
    const b = $("gm-ann-confirm-site");
    if (!b || !selected) return;
    const a = selected.gm;
    b.hidden = !(a.id && !a.deleted && kindOf(selected) === "polygon" && a.site_id);
  }

  async function call(method, url, body) {
    const r = await fetch(url, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body ? JSON.stringify(body) : undefined });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(out.message || String(r.status));
    return out;
  }
  const toGeometry = (layer) => layer.toGeoJSON(8).geometry;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!selected || !editable) return;
    const layer = selected, a = layer.gm;
    const body = { scene_id: d.scene_id, geometry: toGeometry(layer) };
    for (const f of fields) if (input[f]) body[f] = input[f].value || null;
    try {
      const saved = a.id ? await call("PUT", d.api + "/" + a.id, Object.assign(body, { version: a.version }))
        : await call("POST", d.api, body);
      layer.gm = saved;
      style(layer);
      select(layer);
      status(T.saved);
    } catch (err) { status(T.error + ": " + err.message); }
  });
  const del = $("gm-ann-delete");
  if (del) del.addEventListener("click", async () => {
    if (!selected) return;
    const layer = selected, a = layer.gm;
    if (!a.id) { layer.remove(); layers.splice(layers.indexOf(layer), 1); selected = null; form.hidden = true; renderList(); return; }
    if (!window.confirm(T.confirm_delete)) return;
    try {
      const gone = await call("DELETE", d.api + "/" + a.id, { version: a.version });
      layer.gm = gone;
      layer.remove();
      layers.splice(layers.indexOf(layer), 1);
      status(T.deleted);
      history(a.id);
      renderList();
    } catch (err) { status(T.error + ": " + err.message); }
  });
  const conf = $("gm-ann-confirm-site");
  if (conf) conf.addEventListener("click", async () => {
    if (!selected || !selected.gm.id) return;
    try { await call("POST", d.api + "/" + selected.gm.id + "/confirm-site"); status(T.confirmed); }
    catch (err) { status(T.error + ": " + err.message); }
  });

  let asked = 0;  // only the newest request fills the list (a save re-selects, so two may overlap)
  async function history(id) {
    const list = $("gm-ann-history"), mine = ++asked;
    list.textContent = "";
    if (!id) return;
    let out;
    try { out = await call("GET", d.api + "/" + id + "/history"); } catch (err) { return; }
    if (mine !== asked || !selected || selected.gm.id !== id) return;
    list.textContent = "";
    for (const v of out.versions) {
      const li = document.createElement("li");
      li.className = "gm-ann-version";
      li.dataset.version = String(v.version);
      const parts = [T.version + " " + v.version, T[v.action] || v.action, v.author,
        v.at.replace("T", " "), V.labels[v.label] || v.label, V.confidences[v.confidence] || v.confidence];
      if (v.change) parts.push(V.changes[v.change] || v.change);
      if (v.length_m != null) parts.push(num(v.length_m, 1) + " m");
      if (v.area_m2 != null) parts.push(num(v.area_m2, 0) + " m²");
      li.textContent = parts.join(" · ");
      if (v.note) {
        const n = document.createElement("div");
        n.className = "gm-hint gm-ann-version-note";
        n.textContent = v.note;
        li.appendChild(n);
      }
      list.appendChild(li);
    }
  }

  function renderList() {
    const ul = $("gm-ann-list");
    ul.textContent = "";
    const saved = layers.filter((l) => l.gm.id);
    if (!saved.length) {
      const li = document.createElement("li"); li.className = "gm-hint"; li.textContent = T.none; ul.appendChild(li);
      return;
    }
    for (const layer of saved) {
      const a = layer.gm;
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "gm-ann-item" + (layer === selected ? " gm-selected" : "");
      b.dataset.id = String(a.id);
      const sw = document.createElement("span"); sw.className = "gm-ann-swatch"; sw.style.background = colour(a.label);
      const parts = [title(a), T[a.kind] || a.kind];
      if (a.length_m != null) parts.push(num(a.length_m, 1) + " m");
      if (a.area_m2 != null) parts.push(num(a.area_m2 / 1e6, 4) + " km²");
      if (a.site_name) parts.push(a.site_name);
      b.append(sw, document.createTextNode(parts.join(" · ")));
      b.addEventListener("click", () => {
        select(layer);
        if (layer.getBounds) map.fitBounds(layer.getBounds().pad(0.5), { maxZoom: maxZoom - 1 });
        else map.panTo(layer.getLatLng());
      });
      li.appendChild(b);
      ul.appendChild(li);
    }
  }
  // an earlier scene's annotations as dashed outlines, to mark what appeared, went or changed
  const refSelect = $("gm-ann-reference");
  const reference = L.featureGroup().addTo(map);
  if (refSelect) refSelect.addEventListener("change", async () => {
    reference.clearLayers();
    if (!refSelect.value) return;
    let out;
    try { out = await call("GET", d.api + "?scene=" + encodeURIComponent(refSelect.value)); }
    catch (err) { status(T.error + ": " + err.message); return; }
    for (const a of out.annotations) {
      const g = a.geometry, ll = (c) => [c[1], c[0]];
      const opts = { color: colour(a.label), weight: 2, dashArray: "4,6", fill: false, interactive: true, pmIgnore: true };
      const layer = g.type === "Point" ? L.circleMarker(ll(g.coordinates), Object.assign({ radius: 6 }, opts))
        : g.type === "LineString" ? L.polyline(g.coordinates.map(ll), opts)
        : L.polygon(g.coordinates.map((r) => r.map(ll)), opts);
      const label = document.createElement("span");
      label.textContent = (V.labels[a.label] || a.label) + " · " + a.scene_date;
      layer.bindTooltip(label).addTo(reference);
    }
  });

  renderList();
  window.geomapAnnotate = { map: map, layers: layers, measureOf: measureOf, distance: distance, area: area };
})();
