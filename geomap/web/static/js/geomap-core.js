/* Helpers the page scripts share. Loaded before them; defines window.geomap.htmlText. */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});
  /* A person's text for the few Leaflet APIs that only take a string and insert it as HTML
     (a layer's `attribution`, names in L.control.layers): "<meta ...>" shows as those
     characters and creates no element. Everywhere else, build DOM text nodes (textContent). */
  geomap.htmlText = function (value) {
    const node = document.createElement("span");
    node.textContent = value === null || value === undefined ? "" : String(value);
    return node.innerHTML;
  };
})();
