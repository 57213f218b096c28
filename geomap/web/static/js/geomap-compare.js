/* Comparison of two imagery scenes, two ways. Swipe: one map, the left scene shows left of
   the divider, the right scene right of it (clipping set through CSSOM, allowed by our CSP).
   Side by side: a second map holds the right scene, and the two follow each other.
   Each scene has its own opacity, brightness and contrast (geomap-imagery-aids.js). */
(function () {
  "use strict";
  const d = JSON.parse(document.getElementById("gm-compare-data").textContent);
  const aids = geomap.imageryAids;
  const wrap = document.getElementById("gm-compare-wrap");

  function newMap(id) {
    const m = L.map(id, { attributionControl: true, maxZoom: 19 });
    m.attributionControl.setPrefix("Leaflet");
    aids.mapAids(m);
    if (d.basemap) geomap.basemap(m, d.basemap).addTo(m);
    return m;
  }
  const map = newMap("gm-compare-map");
  const bounds = L.latLngBounds(d.bounds[0], d.bounds[1]);
  function layer(scene) {
    return L.tileLayer(scene.tiles, { bounds: L.latLngBounds(scene.bounds[0], scene.bounds[1]),
      // Leaflet inserts attributions as HTML: the licence is a person's text
      maxNativeZoom: scene.maxzoom, maxZoom: 19, attribution: geomap.htmlText(scene.attribution) });
  }
  const left = layer(d.left).addTo(map), right = layer(d.right);
  // the scenes' extent (they were chosen because they cover the site), at most the site's area
  const area = d.focus ? L.latLng(d.focus).toBounds(d.focusRadius * 2) : null;
  map.fitBounds(area && !area.contains(bounds) && area.intersects(bounds) ? area : bounds);

  // each scene's annotations in a pane of their own, clipped with their scene in swipe mode
  const vocab = d.vocab || { labels: {}, changes: {}, colours: {} };
  const showAnn = document.getElementById("gm-show-annotations");
  function annotations(scene, paneName, m) {
    if (!m.getPane(paneName)) m.createPane(paneName).style.zIndex = 450;
    const features = (scene.annotations || []).map(function (a) {
      return { type: "Feature", geometry: a.geometry, properties: a };
    });
    return L.geoJSON(features, {
      pane: paneName,
      style: function (f) {
        const c = vocab.colours[f.properties.label] || "#ff00ff";
        return { color: c, weight: 2, fillOpacity: 0.15, dashArray: f.properties.change === "gone" ? "4 4" : null };
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { pane: paneName, radius: 6,
          color: vocab.colours[f.properties.label] || "#ff00ff", weight: 2, fillOpacity: 0.6 });
      },
      onEachFeature: function (f, lyr) {
        const p = f.properties;
        let text = vocab.labels[p.label] || p.label;
        if (p.change && vocab.changes[p.change]) text += " · " + vocab.changes[p.change];
        lyr.bindTooltip(geomap.htmlText(text));  // Leaflet reads tooltips as HTML
      },
    });
  }
  const annLeft = annotations(d.left, "gm-ann-left", map);
  let annRight = null;
  function placeAnnotations(target) {
    if (annRight) annRight.remove();
    annRight = annotations(d.right, "gm-ann-right", target);
    const on = !showAnn || showAnn.checked;
    [[annLeft, map], [annRight, target]].forEach(function (pair) {
      if (on) pair[0].addTo(pair[1]); else pair[0].remove();
    });
  }

  const range = document.getElementById("gm-swipe");
  const divider = document.getElementById("gm-divider");
  function side() { return wrap.dataset.mode === "side"; }
  function clip() {
    const l = left.getContainer(), r = right.getContainer();
    const al = map.getPane("gm-ann-left"), ar = map.getPane("gm-ann-right");
    if (side()) {  // each scene whole, on its own map
      [l, r, al, ar].forEach(function (el) { if (el) el.style.clip = ""; });
      return;
    }
    const nw = map.containerPointToLayerPoint([0, 0]);
    const se = map.containerPointToLayerPoint(map.getSize());
    const x = nw.x + (se.x - nw.x) * range.value / 100;
    if (l) l.style.clip = "rect(" + [nw.y, x, se.y, nw.x].join("px,") + "px)";
    if (r) r.style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)";
    if (al) al.style.clip = "rect(" + [nw.y, x, se.y, nw.x].join("px,") + "px)";
    if (ar) ar.style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)";
    divider.style.left = (map.getSize().x * range.value / 100) + "px";
  }
  range.addEventListener("input", clip);
  map.on("move zoom resize", clip);
  left.on("load", clip); right.on("load", clip);

  let mapB = null;  // made when first shown: Leaflet cannot size a hidden map
  function setMode(mode, keepUrl) {
    wrap.dataset.mode = mode === "side" ? "side" : "swipe";
    map.invalidateSize();
    [map, mapB].forEach(function (m) { if (m && m.hasLayer(right)) m.removeLayer(right); });
    if (side()) {
      if (!mapB) {
        mapB = newMap("gm-compare-map-b");
        aids.sync(map, mapB);
        window.geomapCompare.mapB = mapB;
      }
      mapB.invalidateSize();
      mapB.setView(map.getCenter(), map.getZoom(), { animate: false });
      right.addTo(mapB);
      placeAnnotations(mapB);
    } else {
      right.addTo(map);
      placeAnnotations(map);
    }
    clip();
    if (keepUrl) return;
    const url = new URL(window.location.href);
    url.searchParams.set("mode", wrap.dataset.mode);
    window.history.replaceState(null, "", url);
  }
  document.querySelectorAll(".gm-compare-mode input[name=mode]").forEach(function (input) {
    input.addEventListener("change", function () { if (input.checked) setMode(input.value); });
  });

  const panel = document.getElementById("gm-aids");
  panel.append(aids.adjust(left, panel.dataset.left), aids.adjust(right, panel.dataset.right));
  if (showAnn) showAnn.addEventListener("change", function () {
    placeAnnotations(side() ? mapB : map);
    clip();
  });
  window.geomapCompare = { map: map, mapB: null, left: left, right: right, clip: clip,
                           setMode: setMode,
                           annotations: function () { return { left: annLeft, right: annRight }; } };
  setMode(wrap.dataset.mode, true);
})();
