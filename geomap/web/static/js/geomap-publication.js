/* The publication page's preview: the draft's snapshot (computed by the server from the same
   allow-lists as publishing) on a small map. Names reach the map as text nodes only. */
(function () {
  "use strict";
  const el = document.querySelector(".gm-pub-preview");
  if (!el || typeof L === "undefined") return;
  function text(value) {
    const node = document.createElement("span");
    node.textContent = value === null || value === undefined ? "" : String(value);
    return node;
  }
  const map = L.map(el, { attributionControl: false, maxZoom: 14 });
  el.gmMap = map;  // the story editor's "use the current preview map view"
  L.control.scale({ imperial: false }).addTo(map);
  fetch(el.dataset.preview, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((snap) => {
      map.fitBounds(snap.bounds);
      L.geoJSON(snap.cells, {
        style: () => ({ color: "#D55E00", weight: 1, fillColor: "#D55E00", fillOpacity: 0.35 }),
        onEachFeature: (f, layer) => layer.bindTooltip(text(f.properties.count)),
      }).addTo(map);
      L.geoJSON(snap.annotations, {
        style: () => ({ color: "#CC79A7", weight: 2, fill: false }),
        pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 5, color: "#CC79A7", weight: 2, fill: false }),
        onEachFeature: (f, layer) => layer.bindTooltip(text(f.properties.label_text)),
      }).addTo(map);
      L.geoJSON(snap.sites, {
        pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#fff", weight: 2, fillColor: "#0072B2", fillOpacity: 1 }),
        onEachFeature: (f, layer) => layer.bindTooltip(text(f.properties.name)),
      }).addTo(map);
      el.dataset.ready = "1";
    })
    .catch(() => { map.setView([40.3, 127.5], 6); });
})();
