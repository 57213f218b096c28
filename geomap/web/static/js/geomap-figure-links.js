/* Report-figure links on the compare page follow the map: their bbox is the view shown, so
   the figure (rendered on the server) covers what the analyst framed. Without this script the
   links still work (the server takes the site's area or the scenes' common footprint). */
(function () {
  "use strict";
  var links = document.querySelectorAll("a[data-figure-view]");
  if (!links.length || !window.geomapCompare || !window.geomapCompare.map) return;
  var map = window.geomapCompare.map;
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function update() {
    var b = map.getBounds();
    // Web Mercator's edge is 85.05 degrees; the server refuses latitudes beyond 85
    var bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85),
                clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)]
      .map(function (v) { return v.toFixed(6); }).join(",");
    links.forEach(function (a) {
      var u = new URL(a.getAttribute("href"), window.location.href);
      u.searchParams.set("bbox", bbox);
      a.setAttribute("href", u.pathname + u.search);
    });
  }
  map.on("moveend", update);
  update();
})();
