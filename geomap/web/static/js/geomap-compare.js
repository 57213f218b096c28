/* Swipe comparison of two imagery scenes: the left scene shows left of the divider, the
   right scene right of it. Clipping is set through CSSOM (allowed by our CSP). */
(function () {
  "use strict";
  const d = JSON.parse(document.getElementById("gm-compare-data").textContent);
  const map = L.map("gm-compare-map", { attributionControl: true, maxZoom: 19 });
  map.attributionControl.setPrefix("Leaflet");
  geomap.scaleBar(map);
  if (d.basemap) geomap.basemap(map, d.basemap).addTo(map);
  const bounds = L.latLngBounds(d.bounds[0], d.bounds[1]);
  function layer(scene) {
    return L.tileLayer(scene.tiles, { bounds: L.latLngBounds(scene.bounds[0], scene.bounds[1]),
      // Leaflet inserts attributions as HTML: the licence is a person's text
      maxNativeZoom: scene.maxzoom, maxZoom: 19, attribution: geomap.htmlText(scene.attribution) });
  }
  const left = layer(d.left).addTo(map), right = layer(d.right).addTo(map);
  // the scenes' extent (they were chosen because they cover the site), at most the site's area
  const area = d.focus ? L.latLng(d.focus).toBounds(d.focusRadius * 2) : null;
  map.fitBounds(area && !area.contains(bounds) && area.intersects(bounds) ? area : bounds);

  const range = document.getElementById("gm-swipe");
  const divider = document.getElementById("gm-divider");
  function clip() {
    const nw = map.containerPointToLayerPoint([0, 0]);
    const se = map.containerPointToLayerPoint(map.getSize());
    const x = nw.x + (se.x - nw.x) * range.value / 100;
    const l = left.getContainer(), r = right.getContainer();
    if (l) l.style.clip = "rect(" + [nw.y, x, se.y, nw.x].join("px,") + "px)";
    if (r) r.style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)";
    divider.style.left = (map.getSize().x * range.value / 100) + "px";
  }
  range.addEventListener("input", clip);
  map.on("move zoom resize", clip);
  left.on("load", clip); right.on("load", clip);
  clip();
  window.geomapCompare = { map: map, clip: clip };
})();
