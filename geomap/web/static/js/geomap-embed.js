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
  (data.scenes || []).forEach((s, i) => {
    const layer = L.tileLayer(s.url, {
      minNativeZoom: data.min_zoom, maxNativeZoom: Math.min(data.max_zoom, 18), maxZoom: data.max_zoom,
      attribution: escaped(s.attribution), bounds: b || undefined,
    });
    if (i === 0) layer.addTo(map);
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
    L.geoJSON(cells, {
      style: () => ({ color: "#D55E00", weight: 1, fillColor: "#D55E00", fillOpacity: 0.35, className: "gm-embed-cell" }),
      onEachFeature: (f, layer) => layer.bindTooltip(text((f.properties || {}).count + " " + (t.cell || ""))),
    }).addTo(map);
    L.geoJSON(notes, {
      style: () => ({ color: "#CC79A7", weight: 2, fill: false, className: "gm-embed-note" }),
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 5, color: "#CC79A7", weight: 2, fill: false, className: "gm-embed-note" }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        const label = [p.label_text || p.label, p.scene_date].filter(Boolean).join(" · ");
        if (label) layer.bindTooltip(text(label));
      },
    }).addTo(map);
    L.geoJSON(sites, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#fff", weight: 2, fillColor: "#0072B2", fillOpacity: 1, className: "gm-embed-site" }),
      onEachFeature: (f, layer) => layer.bindTooltip(siteLabel(f.properties || {})),
    }).addTo(map);
    document.body.dataset.ready = "1";
  });

  /* The optional resize script on the framing page (geomap-embed-resize.js) sets the frame's
     height to what the text below the map needs; only a height leaves this page. */
  function tell() {
    if (window.parent === window) return;
    const h = document.querySelector(".gm-embed-head").offsetHeight + document.querySelector(".gm-embed-legend").offsetHeight +
      document.querySelector(".gm-embed-foot").offsetHeight + Math.max(300, Math.round(window.innerWidth * 0.6));
    window.parent.postMessage({ geomap: "embed-height", height: h }, "*");
  }
  window.addEventListener("load", tell);
  window.addEventListener("resize", () => { clearTimeout(tell.t); tell.t = setTimeout(tell, 200); });
})();
