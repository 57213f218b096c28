/* The published map (embed_page.html), on our server (/embed/<slug>) or in a static export.
   Reads #gm-embed-data: the snapshot's layers (inline, or the URLs of its GeoJSON files), the
   scenes whose tiles are public, the bounds. Names and labels reach the map as text nodes,
   never as HTML. Loads nothing from another host. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gm-embed-data").textContent);
  const t = data.text || {};

  function text(value) {
    const node = document.createElement("span");
    node.textContent = value === null || value === undefined ? "" : String(value);
    return node;
  }
  function escaped(value) { return text(value).innerHTML; }  // for Leaflet's string-only APIs

  function load(layer) {
    if (typeof layer === "string") {
      return fetch(layer, { credentials: "omit" }).then((r) => (r.ok ? r.json() : { features: [] }));
    }
    return Promise.resolve(layer || { features: [] });
  }

  L.Control.Zoom.prototype.options.zoomInTitle = t.zoom_in || "Zoom in";
  L.Control.Zoom.prototype.options.zoomOutTitle = t.zoom_out || "Zoom out";
  const map = L.map("gm-embed-map", { maxZoom: data.max_zoom, attributionControl: true });
  map.attributionControl.setPrefix(false);
  const b = data.bounds;
  if (b) map.fitBounds(b, { maxZoom: Math.min(14, data.max_zoom) });
  else map.setView([40.3, 127.5], 6);
  L.control.scale({ imperial: false }).addTo(map);

  if (data.basemap) {  // the public-domain relief, below the imagery
    map.createPane("gm-basemap").style.zIndex = 150;
    L.tileLayer(data.basemap.url, { pane: "gm-basemap", bounds: data.basemap.bounds,
      maxNativeZoom: data.basemap.max_native, maxZoom: data.basemap.max_native,
      attribution: escaped(data.basemap.attribution) }).addTo(map);
  }
  const overlays = {};
  const sceneLayers = {};
  (data.scenes || []).forEach((s, i) => {
    const layer = L.tileLayer(s.url, {
      minNativeZoom: data.min_zoom, maxNativeZoom: Math.min(data.max_zoom, 18), maxZoom: data.max_zoom,
      attribution: escaped(s.attribution), bounds: b || undefined,
    });
    if (i === 0) layer.addTo(map);
    sceneLayers[s.id] = layer;
    overlays[escaped(s.label || s.id)] = layer;
  });
  if (Object.keys(overlays).length > 1) L.control.layers(null, overlays, { collapsed: true }).addTo(map);

  function siteLabel(p) {
    const name = data.lang === "ko" ? (p.name_ko || p.name) : (p.name || p.name_ko);
    const box = document.createElement("div");
    box.appendChild(text(name));
    const other = data.lang === "ko" ? p.name : p.name_ko;
    if (other && other !== name) { box.appendChild(document.createElement("br")); box.appendChild(text(other)); }
    const facts = [];
    if (p.facility_type) facts.push(p.facility_type);
    if (p.placement && t.placement) facts.push(t.placement[p.placement] || p.placement);
    if (typeof p.witnesses === "number") facts.push(p.witnesses + " " + (t.witnesses || ""));
    if (facts.length) { box.appendChild(document.createElement("br")); box.appendChild(text(facts.join(" · "))); }
    return box;
  }

  Promise.all(["cells", "annotations", "sites"].map((k) => load(data.layers[k]))).then(([cells, notes, sites]) => {
    const drawn = {};
    drawn.cells = L.geoJSON(cells, {
      style: () => ({ color: "#D55E00", weight: 1, fillColor: "#D55E00", fillOpacity: 0.35, className: "gm-embed-cell" }),
      onEachFeature: (f, layer) => layer.bindTooltip(text((f.properties || {}).count + " " + (t.cell || ""))),
    }).addTo(map);
    drawn.annotations = L.geoJSON(notes, {
      style: () => ({ color: "#CC79A7", weight: 2, fill: false, className: "gm-embed-note" }),
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 5, color: "#CC79A7", weight: 2, fill: false, className: "gm-embed-note" }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        const label = [p.label_text || p.label, p.scene_date].filter(Boolean).join(" · ");
        if (label) layer.bindTooltip(text(label));
      },
    }).addTo(map);
    drawn.sites = L.geoJSON(sites, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#fff", weight: 2, fillColor: "#0072B2", fillOpacity: 1, className: "gm-embed-site" }),
      onEachFeature: (f, layer) => layer.bindTooltip(siteLabel(f.properties || {})),
    }).addTo(map);
    story(drawn);
    document.body.dataset.ready = "1";
    tell();  // the story's panel now shows one step
  });

  /* A story: one step at a time (the panel's articles), the map flying to the step's view
     with the step's layers on; previous/next buttons, the arrow keys and #step-N. */
  function story(drawn) {
    const steps = data.steps || [];
    const panel = document.querySelector(".gm-story");
    if (!steps.length || !panel) return;
    story.panel = panel;
    const articles = Array.from(panel.querySelectorAll(".gm-story-step"));
    const prev = panel.querySelector(".gm-story-prev");
    const next = panel.querySelector(".gm-story-next");
    const pos = panel.querySelector(".gm-story-pos");
    let current = -1;
    function setLayer(layer, on) {
      if (!layer) return;
      if (on && !map.hasLayer(layer)) layer.addTo(map);
      if (!on && map.hasLayer(layer)) map.removeLayer(layer);
    }
    function show(i, fromHash) {
      i = Math.max(0, Math.min(steps.length - 1, i));
      if (i === current) return;
      current = i;
      const st = steps[i];
      articles.forEach((a, k) => { a.hidden = k !== i; });
      pos.textContent = (i + 1) + " / " + steps.length;
      pos.title = (t.step_of || "").replace("%(n)s", i + 1).replace("%(total)s", steps.length);
      prev.disabled = i === 0;
      next.disabled = i === steps.length - 1;
      const on = st.layers && st.layers.length ? st.layers : Object.keys(drawn);
      Object.keys(drawn).forEach((k) => setLayer(drawn[k], on.indexOf(k) >= 0));
      if (st.scene && sceneLayers[st.scene]) {
        Object.keys(sceneLayers).forEach((id) => setLayer(sceneLayers[id], id === st.scene));
      }
      const v = st.view;
      const reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      const opts = { animate: !reduce, duration: 1.2 };
      if (v && v.center) map.flyTo(v.center, Math.min(v.zoom, data.max_zoom), opts);
      else if (v && v.bounds) map.flyToBounds(v.bounds, { ...opts, maxZoom: Math.min(14, data.max_zoom) });
      else if (b) map.flyToBounds(b, { ...opts, maxZoom: Math.min(14, data.max_zoom) });
      document.body.dataset.step = String(i + 1);
      if (!fromHash && window.location.hash !== "#step-" + (i + 1)) {
        history.replaceState(null, "", "#step-" + (i + 1));
      }
    }
    function fromHash() {
      const m = /^#step-(\d+)$/.exec(window.location.hash);
      return m ? parseInt(m[1], 10) - 1 : 0;
    }
    prev.addEventListener("click", () => show(current - 1));
    next.addEventListener("click", () => show(current + 1));
    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey || /^(INPUT|TEXTAREA|SELECT)$/.test((e.target || {}).tagName || "")) return;
      if (e.target && map.getContainer().contains(e.target)) return;  // the map pans with them
      if (e.key === "ArrowRight") { show(current + 1); e.preventDefault(); }
      if (e.key === "ArrowLeft") { show(current - 1); e.preventDefault(); }
    });
    window.addEventListener("hashchange", () => show(fromHash(), true));
    function where() {  // where the map is, for whoever checks the story (tests too)
      const c = map.getCenter();
      document.body.dataset.view = c.lat.toFixed(3) + "," + c.lng.toFixed(3) + "," + map.getZoom();
    }
    map.on("moveend", where);
    where();
    document.body.classList.add("gm-story-ready");
    show(fromHash(), true);
  }

  /* The optional resize script on the framing page (geomap-embed-resize.js) sets the frame's
     height to what the text below the map needs; only a height leaves this page. */
  function tell() {
    if (window.parent === window) return;
    const h = document.querySelector(".gm-embed-head").offsetHeight + document.querySelector(".gm-embed-legend").offsetHeight +
      document.querySelector(".gm-embed-foot").offsetHeight + Math.max(300, Math.round(window.innerWidth * 0.6)) +
      (story.panel && window.innerWidth < 900 ? story.panel.offsetHeight : 0);  // a story's panel sits below the map
    window.parent.postMessage({ geomap: "embed-height", height: h }, "*");
  }
  window.addEventListener("load", tell);
  window.addEventListener("resize", () => { clearTimeout(tell.t); tell.t = setTimeout(tell, 200); });
})();
