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

/* Map helpers every map page shares (main map, dossier, review, compare). */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});

  /* Leaflet writes a few labels of its own ("Zoom in", "Layers"): the page's translations of
     them (base.html, #gm-ui-text) become Leaflet's defaults before any map is made. */
  const ui = document.getElementById("gm-ui-text");
  geomap.text = ui ? JSON.parse(ui.textContent) : {};
  if (window.L && geomap.text.zoom_in) {
    L.Control.Zoom.prototype.options.zoomInTitle = geomap.text.zoom_in;
    L.Control.Zoom.prototype.options.zoomOutTitle = geomap.text.zoom_out;
    const initLayout = L.Control.Layers.prototype._initLayout;
    L.Control.Layers.include({ _initLayout: function () {
      initLayout.call(this);
      if (this._layersLink) {
        this._layersLink.title = geomap.text.layers;
        this._layersLink.setAttribute("aria-label", geomap.text.layers);
      }
    } });
  }

  /* The shipped relief is one 240 x 315 px picture of all of Korea (native zoom 5). Stretched
     further it is a blur that reads as terrain it is not: it is drawn up to three levels past
     its own (fading over the last), and beyond that the map shows a plain land tone, not the
     sea's blue. cfg: {url, bounds, maxzoom, attribution?}. The map needs its own maxZoom. */
  geomap.reliefBasemap = function (map, cfg) {
    if (!map.getPane("gm-basemap")) map.createPane("gm-basemap").style.zIndex = 150;  // below imagery
    const upTo = cfg.maxzoom + 3;
    // the server resamples the whole picture for every zoom up to there (bilinear), so there
    // are no seams where the browser would stretch each coarse tile on its own
    const opts = { pane: "gm-basemap", className: "gm-basemap", bounds: cfg.bounds,
                   maxNativeZoom: upTo, maxZoom: upTo };
    if (cfg.attribution) opts.attribution = cfg.attribution;  // already text (html_text)
    const layer = L.tileLayer(cfg.url, opts);
    function fade() {
      const z = map.getZoom();
      map.getPane("gm-basemap").style.opacity = z >= upTo ? "0.5" : "1";
      map.getContainer().classList.toggle("gm-past-basemap", z > upTo);
    }
    map.on("zoomend", fade);
    map.whenReady(fade);
    return layer;
  };

  /* A metric scale bar (bottom left) on every map. */
  geomap.scaleBar = function (map) {
    return L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  };
})();

/* Province outlines as context on the small maps (dossier, review): past the relief's zoom
   they are what tells one valley from another. Lines only, not interactive. */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});
  geomap.contextBoundaries = function (map, url) {
    if (!url) return;
    if (!map.getPane("gm-context")) map.createPane("gm-context").style.zIndex = 350;  // below overlays
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (fc) L.geoJSON(fc, { pane: "gm-context", interactive: false,
          style: { color: "#5b4a3a", weight: 1.2, opacity: 0.8, fill: false } }).addTo(map);
      })
      .catch(function () { /* context only: the map works without it */ });
  };
})();

/* Installed basemap packages (MBTiles served from /tiles/basemap-pkg/) and the online basemap
   an administrator may opt into: tile layers in their own pane above the relief, which stays
   underneath as the fallback where a package has no tiles. Attributions are a person's text. */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});

  function pane(map) {
    if (!map.getPane("gm-basemap-pkg")) map.createPane("gm-basemap-pkg").style.zIndex = 160;
    return "gm-basemap-pkg";
  }

  /* cfg: {url, bounds, minzoom, maxzoom, attribution}; drawn two levels past its own zoom. */
  geomap.packageTiles = function (map, cfg) {
    return L.tileLayer(cfg.url, { pane: pane(map), bounds: cfg.bounds, minZoom: 0,
      minNativeZoom: cfg.minzoom, maxNativeZoom: cfg.maxzoom, maxZoom: cfg.maxzoom + 2,
      attribution: geomap.htmlText(cfg.attribution || "") });
  };

  /* a package over the relief, as one base layer */
  geomap.packageBasemap = function (map, cfg) {
    const relief = geomap.reliefBasemap(map, cfg.relief);
    return L.layerGroup([relief, geomap.packageTiles(map, cfg)]);
  };

  /* cfg: {url, attribution}: only ever present when GEOMAP_ONLINE_BASEMAP_URL is set */
  geomap.onlineBasemap = function (map, cfg) {
    return L.tileLayer(cfg.url, { pane: pane(map), maxZoom: 19,
      attribution: geomap.htmlText(cfg.attribution || "") });
  };

  /* The small maps' base (dossier, review, compare): the first installed package over the
     relief, or the relief alone. cfg: _basemap() of the page, with `packages`. */
  geomap.basemap = function (map, cfg) {
    const pkgs = cfg.packages || [];
    if (!pkgs.length) return geomap.reliefBasemap(map, cfg);
    return geomap.packageBasemap(map, Object.assign({}, pkgs[0], { relief: cfg }));
  };
})();
