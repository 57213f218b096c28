/* Optional, for pages that embed a geomap publication: sets each geomap iframe's height to what
   the embedded page asks for (a number, nothing else is read), so its text is not cut off.
   Without it the iframe keeps its 4:3 shape. */
(function () {
  "use strict";
  window.addEventListener("message", (e) => {
    const d = e.data;
    if (!d || d.geomap !== "embed-height" || typeof d.height !== "number") return;
    document.querySelectorAll("iframe[data-geomap-embed]").forEach((f) => {
      if (f.contentWindow === e.source) {
        f.style.aspectRatio = "auto";
        f.style.height = Math.max(200, Math.min(3000, Math.round(d.height))) + "px";
      }
    });
  });
})();
