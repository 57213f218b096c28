/* Site dossier map: the site, its precision (or perimeter), and its confirmed testimonies. */
(function () {
  "use strict";
  const d = JSON.parse(document.getElementById("gm-dossier-data").textContent);
  const pts = JSON.parse(document.getElementById("gm-dossier-points").textContent);
  const el = document.getElementById("gm-dossier-map");
  if (d.site.lat === null) { el.hidden = true; return; }
  const map = L.map(el, { attributionControl: false, maxZoom: 19 });
  geomap.scaleBar(map);
  const s = [d.site.lat, d.site.lon];
  // a view first: circles can only measure themselves on a map that has one
  const frame = L.latLngBounds([s, ...pts.map((p) => [p.lat, p.lon])]);
  // a drawn perimeter frames the view: the site is its outline, not its precision
  const outline = d.site.perimeter ? L.geoJSON(d.site.perimeter, { style: { color: "#D55E00", weight: 2 } }) : null;
  if (outline) frame.extend(outline.getBounds());
  // the outline an analyst confirmed on imagery, apart from the reported location (issue 13)
  const seen = d.site.imagery ? L.geoJSON(d.site.imagery, { style: { color: "#0072B2", weight: 3, dashArray: "6,4", fillOpacity: 0.08 } }) : null;
  if (seen) {
    frame.extend(seen.getBounds());
    const label = document.createElement("span"); label.textContent = d.site.imagery_label;
    seen.bindTooltip(label);
  }
  if (pts.length || outline || seen) map.fitBounds(frame.pad(0.2), { maxZoom: outline || seen ? 16 : 13 });
  else map.setView(s, d.site.radius >= 10000 ? 10 : 13);
  if (d.basemap) geomap.basemap(map, d.basemap).addTo(map);
  geomap.contextBoundaries(map, d.boundaries);
  const g = L.featureGroup().addTo(map);
  if (outline) outline.addTo(g);
  else L.circle(s, { radius: d.site.radius, color: "#D55E00", weight: 2, fillOpacity: 0.06 }).addTo(g);
  for (const p of pts) {
    L.polyline([s, [p.lat, p.lon]], { color: "#555", weight: 1, opacity: 0.6 }).addTo(g);
    L.circle([p.lat, p.lon], { radius: p.radius_m || 1, color: "#b8860b", weight: 1, fillOpacity: 0.05 }).addTo(g);
    const m = L.circleMarker([p.lat, p.lon], { radius: 4, color: "#222", weight: 1, fillColor: "#ffd400", fillOpacity: 1 }).addTo(g);
    const label = document.createElement("span"); label.textContent = p.code;
    m.bindTooltip(label);
  }
  if (seen) seen.addTo(g);
  const reported = L.circleMarker(s, { radius: 8, color: "#fff", weight: 2, fillColor: "#D55E00", fillOpacity: 1 }).addTo(g);
  if (d.site.reported_label) {
    const label = document.createElement("span"); label.textContent = d.site.reported_label;
    reported.bindTooltip(label);
  }
})();
