/* Testimony page and edit form: a small map with the testimony's point, its uncertainty
   circle and its linked sites. On the edit form a click on the map sets the latitude and
   longitude fields, and the fields redraw the circle. Names reach the map as escaped text. */
(function () {
  "use strict";
  const el = document.getElementById("gm-testimony-map");
  if (!el || el.hidden) return;
  const data = JSON.parse(document.getElementById("gm-testimony-data").textContent);
  const map = L.map(el, { attributionControl: false, maxZoom: 19 });
  geomap.scaleBar(map);
  if (data.basemap) geomap.basemap(map, data.basemap).addTo(map);
  geomap.contextBoundaries(map, data.boundaries);
  const colours = { confirmed: "#009E73", rejected: "#999999" };
  const pts = [];
  (data.sites || []).forEach((s) => {
    pts.push([s.lat, s.lon]);
    L.circleMarker([s.lat, s.lon], { radius: 7, color: "#fff", weight: 2,
      fillColor: colours[s.status] || "#D55E00", fillOpacity: 1 })
      .bindTooltip(geomap.htmlText(s.name)).addTo(map);
  });
  let circle = null, marker = null;
  function draw(lat, lon, r) {
    if (circle) circle.remove();
    if (marker) marker.remove();
    if (!isFinite(lat) || !isFinite(lon)) return;
    circle = L.circle([lat, lon], { radius: isFinite(r) && r > 0 ? r : 1, color: "#b8860b",
      weight: 2, fillOpacity: 0.1 }).addTo(map);
    marker = L.circleMarker([lat, lon], { radius: 5, color: "#222", weight: 1,
      fillColor: "#ffd400", fillOpacity: 1 }).addTo(map);
  }
  const p = data.point;
  if (p) pts.push([p.lat, p.lon]);
  // a view first: circles can only measure themselves on a map that has one
  if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.5), { maxZoom: 12 });
  else map.setView([40.3, 127.5], 6);
  if (p) {
    draw(p.lat, p.lon, p.radius_m);
    if (!(data.sites || []).length && p.radius_m) map.fitBounds(circle.getBounds().pad(0.3), { maxZoom: 14 });
  }
  const form = document.querySelector("form.gm-edit-form");
  if (!form) return;
  const lat = form.elements.lat, lon = form.elements.lon, radius = form.elements.radius_m;
  function redraw() { draw(parseFloat(lat.value), parseFloat(lon.value), parseFloat(radius.value)); }
  map.on("click", (e) => {
    lat.value = e.latlng.lat.toFixed(6);
    lon.value = e.latlng.lng.toFixed(6);
    redraw();
  });
  [lat, lon, radius].forEach((inp) => inp.addEventListener("input", redraw));
})();
