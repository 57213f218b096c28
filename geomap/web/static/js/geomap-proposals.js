/* Proposed sites: a small map per proposal with its circle and its testimonies' circles.
   Place texts reach the map only as escaped text (geomap.htmlText), never as HTML. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gm-prop-data").textContent);

  function setup(el) {
    if (el.dataset.ready) return;
    el.dataset.ready = "1";
    const p = JSON.parse(el.dataset.prop);
    const map = L.map(el, { attributionControl: false, maxZoom: 19 });
    geomap.scaleBar(map);
    if (data.basemap) geomap.basemap(map, data.basemap).addTo(map);
    geomap.contextBoundaries(map, data.boundaries);
    const members = (p.members || []).filter((m) => m.lat !== null && m.lon !== null);
    // the view first, from the circles' sizes (a circle measures itself only on a map with a
    // view), set once so nothing is drawn mid-zoom
    let bounds = L.latLng(p.lat, p.lon).toBounds(2 * p.radius_m);
    members.forEach((m) => { bounds = bounds.extend(L.latLng(m.lat, m.lon).toBounds(2 * m.radius_m)); });
    map.fitBounds(bounds.pad(0.15), { maxZoom: 16, animate: false });
    const group = L.featureGroup().addTo(map);
    members.forEach((m) => {
      L.circle([m.lat, m.lon], { radius: m.radius_m, color: "#0072B2", weight: 1, fillOpacity: 0.06 })
        .addTo(group);
      L.circleMarker([m.lat, m.lon], { radius: 4, color: "#fff", weight: 1, fillColor: "#0072B2", fillOpacity: 1 })
        .bindTooltip(geomap.htmlText(data.labels.testimony + " " + m.id + (m.place_text ? ": " + m.place_text : "")))
        .addTo(group);
    });
    L.circle([p.lat, p.lon], { radius: p.radius_m, color: "#D55E00", weight: 3, fillOpacity: 0.15, className: "gm-prop-circle" })
      .bindTooltip(geomap.htmlText(data.labels.proposal)).addTo(group);
    L.circleMarker([p.lat, p.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#D55E00", fillOpacity: 1 }).addTo(group);
  }

  const maps = document.querySelectorAll(".gm-prop-map");
  if ("IntersectionObserver" in window) {
    // a long list makes each map when it scrolls into view
    const io = new IntersectionObserver((entries) => {
      entries.forEach((e) => { if (e.isIntersecting) { io.unobserve(e.target); setup(e.target); } });
    }, { rootMargin: "200px" });
    maps.forEach((el) => io.observe(el));
  } else {
    maps.forEach(setup);
  }
})();
