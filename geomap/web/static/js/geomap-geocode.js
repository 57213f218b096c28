/* Place-names review: a small map per entry, made when its "place a point" section opens.
   A click sets the latitude and longitude fields; the radius field sizes the circle. Candidate
   names reach the map only as escaped text (geomap.htmlText), never as HTML. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gm-geo-data").textContent);

  function setup(details) {
    const el = details.querySelector(".gm-geo-map");
    const form = details.querySelector(".gm-geo-point-form");
    if (!el || el.dataset.ready) return;
    el.dataset.ready = "1";
    const cands = JSON.parse(el.dataset.cands || "[]").filter((c) => c.lat !== null && c.lon !== null);
    const map = L.map(el, { attributionControl: false, maxZoom: 19 });
    geomap.scaleBar(map);
    if (data.basemap) geomap.basemap(map, data.basemap).addTo(map);
    geomap.contextBoundaries(map, data.boundaries);
    const pts = cands.map((c) => [c.lat, c.lon]);
    cands.forEach((c) => {
      L.circleMarker([c.lat, c.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#0072B2", fillOpacity: 1 })
        .bindTooltip(geomap.htmlText(c.name)).addTo(map);
    });
    if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.5), { maxZoom: 11 });
    else map.setView([40.3, 127.5], 6);
    const lat = form.elements.lat, lon = form.elements.lon, radius = form.elements.radius_m;
    let circle = null;
    function draw() {
      const la = parseFloat(lat.value), lo = parseFloat(lon.value), r = parseFloat(radius.value);
      if (!isFinite(la) || !isFinite(lo)) return;
      if (circle) circle.remove();
      circle = L.circle([la, lo], { radius: isFinite(r) && r > 0 ? r : 1, color: "#b8860b", weight: 2, fillOpacity: 0.1 }).addTo(map);
    }
    map.on("click", (e) => {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      draw();
    });
    [lat, lon, radius].forEach((inp) => inp.addEventListener("input", draw));
  }

  document.querySelectorAll("details.gm-geo-place-point").forEach((d) => {
    d.addEventListener("toggle", () => { if (d.open) setup(d); });
  });
})();
