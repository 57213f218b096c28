/* Site form: a map to place the point (a click) and draw the perimeter (Leaflet-Geoman), and
   source rows to add and remove. The drawn outline goes into the hidden `perimeter` field as
   GeoJSON; the server checks it. Only the outline and the point are Geoman's to edit: the
   province lines and the basemap are left out (opt-in mode). */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gm-site-edit-data").textContent);
  const form = document.querySelector(".gm-site-form");
  const lat = form.elements.lat, lon = form.elements.lon, perimeter = form.elements.perimeter;

  // -- sources: add a row from the template, remove a row ------------------------------------
  const rows = document.getElementById("gm-src-rows");
  const tpl = document.getElementById("gm-src-template");
  function renumber() {
    rows.querySelectorAll(".gm-src-row").forEach((r, i) => {
      const n = r.querySelector(".gm-src-n"); if (n) n.textContent = String(i + 1);
    });
  }
  document.getElementById("gm-src-add").addEventListener("click", () => {
    let next = 0;
    rows.querySelectorAll(".gm-src-row").forEach((r) => { next = Math.max(next, parseInt(r.dataset.index, 10) + 1); });
    const row = tpl.content.firstElementChild.cloneNode(true);
    row.dataset.index = String(next);
    row.querySelectorAll("[name]").forEach((el) => { el.name = el.name.replace("__i__", String(next)); });
    rows.appendChild(row);
    renumber();
    const first = row.querySelector("input"); if (first) first.focus();
  });
  rows.addEventListener("click", (e) => {
    const b = e.target.closest(".gm-src-remove");
    if (b) { b.closest(".gm-src-row").remove(); renumber(); }
  });

  // -- the map -----------------------------------------------------------------------------
  const el = document.getElementById("gm-site-map");
  if (!window.L || !L.PM) { el.hidden = true; return; }
  L.PM.setOptIn(true);
  const map = L.map(el, { attributionControl: false, maxZoom: 19, pmIgnore: false });
  geomap.scaleBar(map);
  if (data.basemap) geomap.basemap(map, data.basemap).addTo(map);
  geomap.contextBoundaries(map, data.boundaries);
  map.pm.setLang(document.documentElement.lang.slice(0, 2) === "ko" ? "ko" : "en");
  map.pm.addControls({
    position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
    drawRectangle: true, drawPolygon: true, drawCircle: false, drawText: false,
    cutPolygon: false, rotateMode: false, dragMode: true, editMode: true, removalMode: true,
  });
  // opt-in mode: what the tools draw must opt in too, or it could not be edited afterwards
  map.pm.setPathOptions({ color: "#D55E00", weight: 2, pmIgnore: false });

  let point = null;
  function showPoint() {
    const la = parseFloat(lat.value), lo = parseFloat(lon.value);
    if (!isFinite(la) || !isFinite(lo)) { if (point) { point.remove(); point = null; } return; }
    if (!point) {
      // its clicks bubble to the map (Leaflet's default), so a corner can be drawn on it
      point = L.circleMarker([la, lo], { radius: 8, color: "#fff", weight: 2, fillColor: "#D55E00",
        fillOpacity: 1 }).addTo(map);
    } else point.setLatLng([la, lo]);
  }

  const outlines = new Set();  // the polygons on the map that make the perimeter
  function save() {
    const polys = [];
    for (const l of outlines) {
      const g = l.toGeoJSON(6).geometry;
      if (g.type === "Polygon") polys.push(g.coordinates);
      else if (g.type === "MultiPolygon") polys.push(...g.coordinates);
    }
    perimeter.value = !polys.length ? "" : JSON.stringify(polys.length === 1
      ? { type: "Polygon", coordinates: polys[0] } : { type: "MultiPolygon", coordinates: polys });
  }
  function watch(layer) {
    outlines.add(layer);
    layer.on("pm:edit pm:dragend pm:markerdragend pm:vertexremoved", save);
  }

  // the stored outline, editable
  let frame = null;
  if (perimeter.value) {
    try {
      const g = JSON.parse(perimeter.value);
      const parts = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      for (const rings of parts) {
        const poly = L.polygon(rings.map((r) => r.map((c) => [c[1], c[0]])),
          { pmIgnore: false, color: "#D55E00", weight: 2 }).addTo(map);
        watch(poly);
        frame = frame ? frame.extend(poly.getBounds()) : L.latLngBounds(poly.getBounds().getSouthWest(), poly.getBounds().getNorthEast());
      }
    } catch (e) { /* not GeoJSON: the server says so next to the field */ }
  }
  showPoint();
  if (frame) map.fitBounds(frame.pad(0.3), { maxZoom: 15 });
  else if (point) map.setView(point.getLatLng(), 13);
  else map.setView([40.3, 127.5], 6);

  map.on("pm:create", (e) => { if (e.layer instanceof L.Polygon) { watch(e.layer); save(); } });
  map.on("pm:remove", (e) => { outlines.delete(e.layer); save(); });

  // a click places the point, unless a Geoman tool is in use (the click belongs to it)
  let lastTool = 0;
  map.on("pm:drawend pm:globaleditmodetoggled pm:globalremovalmodetoggled pm:globaldragmodetoggled",
    () => { lastTool = Date.now(); });
  map.on("click", (e) => {
    const pm = map.pm;
    if (pm.globalDrawModeEnabled() || pm.globalEditModeEnabled() || pm.globalRemovalModeEnabled()
        || pm.globalDragModeEnabled() || Date.now() - lastTool < 400) return;
    lat.value = e.latlng.lat.toFixed(6);
    lon.value = e.latlng.lng.toFixed(6);
    showPoint();
  });
  [lat, lon].forEach((inp) => inp.addEventListener("input", showPoint));
})();
