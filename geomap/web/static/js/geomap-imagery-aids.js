/* Viewing aids for imagery maps (compare page, annotation page): per-layer opacity, brightness
   and contrast; a metric scale bar and a north arrow on the map; side-by-side maps that follow
   each other. Labels come from the page (#gm-aids-text, templates/_imagery_aids.html), in its
   language. Scene names are a person's text: they only ever reach the page as textContent.

   geomap.imageryAids.mapAids(map)            scale bar (bottom left) + north arrow (top right)
   geomap.imageryAids.adjust(layer, title)    a <fieldset> of three sliders and a reset button
                                              for one tile layer; append it where you like
   geomap.imageryAids.sync(mapA, mapB)        panning or zooming either map moves the other */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});
  const el = document.getElementById("gm-aids-text");
  const T = Object.assign({ opacity: "Opacity", brightness: "Brightness", contrast: "Contrast",
    reset: "Reset", north: "N", north_title: "North is up (Web Mercator)" },
  el ? JSON.parse(el.textContent) : {});

  /* A north arrow. Imagery is shown in Web Mercator, so north is straight up everywhere on
     the map; the arrow never rotates, and its title says why. */
  const North = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      const div = L.DomUtil.create("div", "leaflet-control gm-north");
      div.setAttribute("role", "img");
      div.setAttribute("aria-label", T.north_title);
      div.title = T.north_title;
      const svgNS = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(svgNS, "svg");
      svg.setAttribute("viewBox", "0 0 24 30");
      svg.setAttribute("width", "24");
      svg.setAttribute("height", "30");
      svg.setAttribute("aria-hidden", "true");
      const dark = document.createElementNS(svgNS, "path");
      dark.setAttribute("d", "M12 12 L5 29 L12 25 Z");
      dark.setAttribute("fill", "#1f2a33");
      const light = document.createElementNS(svgNS, "path");
      light.setAttribute("d", "M12 12 L19 29 L12 25 Z");
      light.setAttribute("fill", "#fff");
      light.setAttribute("stroke", "#1f2a33");
      const letter = document.createElementNS(svgNS, "text");
      letter.setAttribute("x", "12");
      letter.setAttribute("y", "10");
      letter.setAttribute("text-anchor", "middle");
      letter.setAttribute("font-size", "10");
      letter.setAttribute("font-weight", "700");
      letter.setAttribute("fill", "#1f2a33");
      letter.textContent = T.north;
      svg.append(letter, dark, light);
      div.appendChild(svg);
      return div;
    },
  });

  function mapAids(map) {
    return { scale: geomap.scaleBar(map), north: new North().addTo(map) };
  }

  /* Brightness and contrast are a CSS filter on the layer's own container (the browser applies
     it on the GPU; tiles are not refetched). Leaflet makes a new container whenever the layer
     is added to a map, so the filter is set again on "add". */
  function applyFilter(layer) {
    const c = layer.getContainer && layer.getContainer();
    const f = layer._gmFilter || { brightness: 100, contrast: 100 };
    if (c) c.style.filter = f.brightness === 100 && f.contrast === 100 ? ""
      : "brightness(" + f.brightness + "%) contrast(" + f.contrast + "%)";
  }

  let seq = 0;
  function adjust(layer, title) {
    const id = "gm-aid-" + (++seq);
    const box = document.createElement("fieldset");
    box.className = "gm-aids";
    const legend = document.createElement("legend");
    legend.textContent = title || "";
    box.appendChild(legend);
    const inputs = {};
    const initial = { opacity: Math.round((layer.options.opacity ?? 1) * 100),
                      brightness: 100, contrast: 100 };
    layer._gmFilter = { brightness: 100, contrast: 100 };
    [["opacity", 0, 100], ["brightness", 20, 200], ["contrast", 20, 200]].forEach(function (s) {
      const name = s[0];
      const label = document.createElement("label");
      label.className = "gm-aid";
      label.htmlFor = id + "-" + name;
      const text = document.createElement("span");
      text.textContent = T[name];
      const input = document.createElement("input");
      input.type = "range";
      input.id = id + "-" + name;
      input.min = String(s[1]);
      input.max = String(s[2]);
      input.step = "5";
      input.value = String(initial[name]);
      input.dataset.aid = name;
      const out = document.createElement("output");
      out.htmlFor = input.id;
      out.textContent = input.value + "%";
      input.setAttribute("aria-valuetext", out.textContent);
      input.addEventListener("input", function () {
        const v = Number(input.value);
        out.textContent = v + "%";
        input.setAttribute("aria-valuetext", out.textContent);
        if (name === "opacity") layer.setOpacity(v / 100);
        else { layer._gmFilter[name] = v; applyFilter(layer); }
      });
      label.append(text, input, out);
      box.appendChild(label);
      inputs[name] = input;
    });
    const reset = document.createElement("button");
    reset.type = "button";
    reset.className = "gm-aid-reset";
    reset.textContent = T.reset;
    reset.addEventListener("click", function () {
      Object.keys(inputs).forEach(function (k) {
        inputs[k].value = String(initial[k]);
        inputs[k].dispatchEvent(new Event("input"));
      });
    });
    box.appendChild(reset);
    layer.on("add", function () { applyFilter(layer); });
    applyFilter(layer);
    return box;
  }

  /* Two maps showing the same place: whichever moves, the other takes its centre and zoom.
     The flag stops the echo (the follower's own "move" would otherwise move the leader). */
  function sync(a, b) {
    let busy = false;
    function follow(src, dst) {
      return function () {
        if (busy) return;
        busy = true;
        try { dst.setView(src.getCenter(), src.getZoom(), { animate: false }); }
        finally { busy = false; }
      };
    }
    b.setView(a.getCenter(), a.getZoom(), { animate: false });
    a.on("move zoomend", follow(a, b));
    b.on("move zoomend", follow(b, a));
  }

  geomap.imageryAids = { mapAids: mapAids, adjust: adjust, sync: sync, text: T };
})();
