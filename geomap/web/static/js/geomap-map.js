/* geomap map layers. Every value that came from data is inserted as text (textContent),
   never as HTML, so a site named "<img src=x onerror=...>" shows those characters. */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});
  // what has been drawn so far (read by people debugging and by the browser tests)
  geomap.state = { boundaries: 0, sites: 0, testimonies: 0, testimoniesMatched: 0, errors: [] };
  geomap.siteMarkers = {};
  // below this width the header is compact and the map's layer list and legend start closed
  const NARROW = "(max-width: 899px)";
  // (the layer control is made by folium with collapsed: false; on a phone it starts closed)
  if (window.L && L.Control && L.Control.Layers) {
    L.Control.Layers.addInitHook(function () {
      if (window.matchMedia(NARROW).matches) this.options.collapsed = true;
    });
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k === "background") node.style.background = v;  // CSSOM: allowed under a strict CSP
      else node.setAttribute(k, v);
    }
    for (const c of children || []) if (c) node.appendChild(c);
    return node;
  }

  function row(label, value) {
    if (value === null || value === undefined || value === "" ||
        (Array.isArray(value) && value.length === 0)) return null;
    const text = Array.isArray(value) ? value.join("; ") : String(value);
    return el("div", { class: "gm-row" }, [
      el("span", { class: "gm-label", text: label }), el("span", { class: "gm-value", text: text }),
    ]);
  }

  function label(dict, code) { return (dict && dict[code]) || code; }

  async function getJSON(url, signal) {
    const resp = await fetch(url, { signal: signal, credentials: "same-origin",
                                    headers: { Accept: "application/geo+json" } });
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      // "message" is the error in the page's language, when the server has it translated
      try { const j = await resp.json(); msg = j.message || j.error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  function status(map, text, isError) {
    if (isError) geomap.state.errors.push(text);
    const box = map.getContainer().querySelector(".gm-status");
    if (box) { box.textContent = text || ""; box.hidden = !text; }
  }

  geomap.statusControl = function (map) {
    // Leaflet's default prefix carries an inline-styled SVG that a strict CSP (rightly) blocks
    if (map.attributionControl) map.attributionControl.setPrefix("Leaflet");
    if (geomap.scaleBar) geomap.scaleBar(map);
    const c = L.control({ position: "bottomleft" });
    c.onAdd = function () {
      const d = el("div", { class: "gm-status leaflet-control", role: "status", "aria-live": "polite" });
      d.hidden = true;
      return d;
    };
    c.addTo(map);
  };

  geomap.boundaries = function (map, layer, cfg) {
    getJSON(cfg.url).then(function (fc) {
      L.geoJSON(fc, {
        style: { color: "#5b4a3a", weight: 1.2, opacity: 0.9, fillOpacity: 0.03, fillColor: "#5b4a3a" },
        onEachFeature: function (f, lyr) {
          const p = f.properties;
          lyr.bindTooltip(el("div", { class: "gm-tip" }, [  // nodes: names are text
            el("strong", { text: p.name_en }),
            p.name_ko ? el("span", { class: "gm-ko", text: " " + p.name_ko }) : null,
          ]), { sticky: true });
        },
      }).eachLayer(function (l) { layer.addLayer(l); });
      geomap.state.boundaries = fc.features.length;
      map.fire("geomap:boundaries", { count: fc.features.length });
    }).catch(function (e) { status(map, cfg.labels.error + ": " + e.message, true); });
  };

  /* A site, briefly: names in both scripts, type, grade, the one-line note and the dossier
     link. Everything else is on the dossier. */
  function siteSummary(p, cfg) {
    const L_ = cfg.labels;
    const grade = p.grade ? el("span", { class: "gm-grade gm-grade-" + p.grade,
                                         text: label(cfg.grades, p.grade) }) : null;
    return [
      p.name_ko ? el("p", { class: "gm-ko", lang: "ko", text: p.name_ko }) : null,
      row(L_.type, label(cfg.types, p.facility_type)),
      grade ? el("div", { class: "gm-row" }, [el("span", { class: "gm-label", text: L_.grade }),
                                              el("span", { class: "gm-value" }, [grade])]) : null,
      row(L_.witnesses, p.grade ? String(p.witnesses || 0) : null),
      row(L_.imagery_confirmed, p.imagery_confirmed),
      p.note ? el("p", { class: "gm-note", text: p.note }) : null,
      el("a", { href: "/sites/" + encodeURIComponent(p.key), text: L_.dossier, class: "gm-dossier-link" }),
    ];
  }

  /* The sheet: what was clicked on the map, below the map on a phone and beside it on wider
     screens. The map shrinks to make room (it is never covered), so the site and the lines
     to its testimonies stay in view. Escape or the close button closes it; focus goes to its
     title on opening and back to the map on closing. */
  const SHEET_BELOW = "(max-width: 699px)";
  function sheet(map, labels) {
    if (map._gmSheet) return map._gmSheet;
    const container = map.getContainer(), main = container.parentNode;
    const title = el("h2", { class: "gm-sheet-title", id: container.id + "-sheet-title", tabindex: "-1" });
    const close = el("button", { type: "button", class: "gm-sheet-close" }, [
      el("span", { "aria-hidden": "true", text: "\u2715 " }), el("span", { text: labels.close }),
    ]);
    const body = el("div", { class: "gm-sheet-body" });
    const box = el("section", { class: "gm-sheet", "aria-labelledby": title.id },
                   [el("div", { class: "gm-sheet-head" }, [title, close]), body]);
    box.hidden = true;
    main.appendChild(box);
    let onClose = null;

    function layout() {
      const open = !box.hidden, below = window.matchMedia(SHEET_BELOW).matches;
      main.classList.toggle("gm-sheet-open", open);
      container.style.right = open && !below ? box.offsetWidth + "px" : "";
      container.style.bottom = open && below ? box.offsetHeight + "px" : "";
      map.invalidateSize({ pan: false });
    }
    function hide() {
      if (box.hidden) return;
      box.hidden = true;
      if (onClose) { const f = onClose; onClose = null; f(); }
      layout();
      container.focus({ preventScroll: true });
    }
    function show(heading, nodes, latlng, whenClosed) {
      if (onClose) { const f = onClose; onClose = null; f(); }
      title.textContent = heading;
      body.textContent = "";
      for (const n of nodes) if (n) body.appendChild(n);
      box.hidden = false;
      layout();
      onClose = whenClosed || null;
      // the point stays in view, well clear of the edges (the map just became smaller)
      const pt = map.latLngToContainerPoint(latlng), size = map.getSize();
      const mx = size.x * 0.2, my = size.y * 0.2;
      if (pt.x < mx || pt.y < my || pt.x > size.x - mx || pt.y > size.y - my) map.panTo(latlng, { animate: false });
      title.focus({ preventScroll: true });
    }
    close.addEventListener("click", hide);
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") hide(); });
    map.on("click", hide);
    window.addEventListener("resize", function () { if (!box.hidden) layout(); });
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    map._gmSheet = { show: show, hide: hide, element: box };
    return map._gmSheet;
  }

  const GRADE_RING = { strongly_corroborated: "#1b7f3b", corroborated: "#7cb342",
                       single_source: "#ffd400" };

  geomap.sites = function (map, layer, cfg) {
    // sites stay above testimony clusters (markerPane is 600)
    if (!map.getPane("gm-sites")) map.createPane("gm-sites").style.zIndex = 650;
    const renderer = L.svg({ pane: "gm-sites" });
    const lines = L.featureGroup().addTo(map);

    function showLinks(p, latlng) {
      lines.clearLayers();
      getJSON(cfg.linksUrl.replace("__KEY__", encodeURIComponent(p.key))).then(function (fc) {
        geomap.state.links = fc.features.length;
        for (const f of fc.features) {
          const [lon, lat] = f.geometry.coordinates;
          L.polyline([latlng, [lat, lon]], { color: "#1f2a33", weight: 1.5, opacity: 0.7,
                                             interactive: false }).addTo(lines);
        }
      }).catch(function () { /* no lines: the popup still says the grade */ });
    }

    function load() {
      const url = new URL(cfg.url, window.location.href);
      if (geomap.filters && geomap.filters.period) url.searchParams.set("period", geomap.filters.period);
      for (const [k, v] of Object.entries(geomap.siteFilters || {})) if (v) url.searchParams.set(k, v);
      getJSON(url.toString()).then(function (fc) {
        layer.clearLayers();
        lines.clearLayers();
        let n = 0;
        const byType = {};
        for (const f of fc.features) {
          if (!f.geometry) continue;
          const p = f.properties;
          byType[p.facility_type] = (byType[p.facility_type] || 0) + 1;
          const [lon, lat] = f.geometry.coordinates;
          const ring = GRADE_RING[p.grade];
          const m = L.circleMarker([lat, lon], {
            pane: "gm-sites", renderer: renderer, bubblingMouseEvents: false,
            radius: p.facility_type === "kwalliso" ? 9 : 7, weight: ring ? 4 : 2,
            color: ring || "#fff", fillColor: cfg.colours[p.facility_type] || "#999",
            fillOpacity: 0.95,
          });
          m.on("click", function () {
            sheet(map, cfg.labels).show(p.name, siteSummary(p, cfg), [lat, lon],
                                        function () { lines.clearLayers(); geomap.state.links = 0; });
            showLinks(p, [lat, lon]);
          });
          // Leaflet sets tooltip strings as HTML: a text node instead
          m.bindTooltip(el("span", { text: p.name }), { direction: "top", offset: [0, -6] });
          layer.addLayer(m);
          // reachable from the keyboard: Tab to a site, Enter or Space opens its sheet
          if (m._path) {
            m._path.setAttribute("tabindex", "0");
            m._path.setAttribute("role", "button");
            m._path.setAttribute("aria-label", p.name + (p.name_ko ? " " + p.name_ko : ""));
            m._path.addEventListener("keydown", function (e) {
              if (e.key === "Enter" || e.key === " ") { e.preventDefault(); m.fire("click"); }
            });
          }
          geomap.siteMarkers[p.key] = m;
          n++;
        }
        geomap.state.sites = n;
        map.fire("geomap:sites", { count: n, unlocated: fc.features.length - n, byType: byType });
      }).catch(function (e) { status(map, cfg.labels.error + ": " + e.message, true); });
    }
    geomap.reloadSites = load;
    load();
  };

  geomap.periodFilter = function (map, cfg) {
    const c = L.control({ position: "topleft" });
    c.onAdd = function () {
      const from = el("input", { type: "number", min: "1950", max: "2030", placeholder: cfg.from,
                                 "aria-label": cfg.from, class: "gm-year" });
      const to = el("input", { type: "number", min: "1950", max: "2030", placeholder: cfg.to,
                               "aria-label": cfg.to, class: "gm-year" });
      const apply = el("button", { type: "button", text: cfg.apply });
      const clear = el("button", { type: "button", text: cfg.clear });
      const box = el("div", { class: "gm-period leaflet-control" },
                     [el("span", { text: cfg.title }), from, el("span", { text: "–" }), to, apply, clear]);
      function set(period) {
        geomap.filters = Object.assign(geomap.filters || {}, { period: period });
        if (geomap.reloadTestimonies) geomap.reloadTestimonies();
        if (geomap.reloadSites) geomap.reloadSites();
      }
      apply.addEventListener("click", function () {
        const a = from.value.trim(), b = to.value.trim();
        set(a && b ? a + "-" + b : a ? "after " + (Number(a) - 1) : b ? "before " + (Number(b) + 1) : "");
      });
      clear.addEventListener("click", function () { from.value = ""; to.value = ""; set(""); });
      for (const input of [from, to]) input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") apply.click();
      });
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    c.addTo(map);
  };

  function testimonySummary(f, cfg) {
    const p = f.properties, L_ = cfg.labels;
    return [
      p.synthetic ? el("div", { class: "gm-synthetic", text: L_.synthetic }) : null,
      row(L_.place, p.place_text),
      row(L_.period, p.period),
      row(L_.uncertainty, p.radius_m !== null ? Math.round(p.radius_m).toLocaleString() + " m" : null),
      row(L_.precision, label(cfg.precisions, p.precision)),
      row(L_.violations, (p.violations || []).map(function (v) { return label(cfg.violations, v); })),
      row(L_.relationship, label(cfg.relationships, p.relationship)),
      row(L_.province, p.admin1 ? p.admin1 + (p.admin1_outside ? " (" + L_.nearest + ")" : "") : null),
    ];
  }

  geomap.testimonies = function (map, layer, cfg) {
    // layer: a MarkerClusterGroup for the points; circles of the real uncertainty radius are
    // drawn in a second group once the map is zoomed in far enough for them to mean something.
    const circles = L.featureGroup();
    // server-grouped counts go in their own group: markercluster would count the badges
    const grid = L.layerGroup();
    let controller = null, timer = null;
    // neutral cluster badges, so testimony counts are not mistaken for facility colours
    layer.options.iconCreateFunction = function (cluster) {
      const n = cluster.getChildCount();
      const size = n < 10 ? 26 : n < 100 ? 32 : n < 1000 ? 38 : 44;
      return L.divIcon({ html: "<span>" + Number(n) + "</span>", className: "gm-cluster",
                         iconSize: L.point(size, size) });
    };

    function clusterBadge(latlng, n, onClick) {
      const size = n < 10 ? 26 : n < 100 ? 32 : n < 1000 ? 38 : 44;
      const m = L.marker(latlng, { icon: L.divIcon({ html: "<span>" + Number(n) + "</span>",
        className: "gm-cluster", iconSize: L.point(size, size) }), keyboard: true,
        title: cfg.labels.zoom_in });
      m.on("click", onClick);
      return m;
    }

    function drawGrid(fc) {
      // the server grouped the testimonies per grid cell: badges with counts, zoom in on click
      const badges = fc.features.map(function (f) {
        const [lon, lat] = f.geometry.coordinates;
        return clusterBadge([lat, lon], f.properties.count, function () {
          map.setView([lat, lon], Math.min(map.getZoom() + 2, map.getMaxZoom()));
        });
      });
      for (const b of badges) grid.addLayer(b);
    }

    function drawPoints(fc) {
      const markers = [];
      const showCircles = map.getZoom() >= cfg.circleMinZoom;
      for (const f of fc.features) {
        const [lon, lat] = f.geometry.coordinates;
        const m = L.circleMarker([lat, lon], { radius: 4, weight: 1, color: "#222",
                                               fillColor: "#ffd400", fillOpacity: 0.9,
                                               bubblingMouseEvents: false });
        m.on("click", function () {
          const code = f.properties.witness_code;
          sheet(map, cfg.labels).show(cfg.labels.testimony + (code ? " " + code : ""),
                                      testimonySummary(f, cfg), [lat, lon]);
        });
        markers.push(m);
        if (showCircles && f.properties.radius_m) {
          circles.addLayer(L.circle([lat, lon], { radius: f.properties.radius_m, weight: 1,
            color: "#b8860b", fillOpacity: 0.06, interactive: false }));
        }
      }
      layer.addLayers(markers);
    }

    function draw(fc) {
      layer.clearLayers();
      circles.clearLayers();
      grid.clearLayers();
      const shown = fc.numberReturned, total = fc.numberMatched;
      if (fc.aggregated) {
        drawGrid(fc);
        status(map, cfg.labels.grouped.replace("%(total)s", total.toLocaleString()));
      } else {
        drawPoints(fc);
        status(map, total > shown ? cfg.labels.capped.replace("%(shown)s", shown.toLocaleString())
                                        .replace("%(total)s", total.toLocaleString()) : "");
      }
      geomap.state.testimonies = fc.aggregated ? total : shown;
      geomap.state.testimoniesMatched = total;
      geomap.state.aggregated = !!fc.aggregated;
      map.fire("geomap:testimonies", { count: shown, total: total, aggregated: !!fc.aggregated });
    }

    function load() {
      if (!map.hasLayer(layer)) return;
      if (controller) controller.abort();
      controller = new AbortController();
      const b = map.getBounds();
      const bbox = [Math.max(-180, b.getWest()), Math.max(-90, b.getSouth()),
                    Math.min(180, b.getEast()), Math.min(90, b.getNorth())]
        .map(function (v) { return v.toFixed(5); }).join(",");
      // grid cell for server-side grouping: about one cluster badge (64 px) wide, snapped to
      // a power of two of a degree (the server counts those cells ahead of time)
      const cell = Math.pow(2, Math.round(Math.log2(64 * (b.getEast() - b.getWest()) /
                                                    map.getSize().x)));
      const url = new URL(cfg.url, window.location.href);
      url.searchParams.set("bbox", bbox);
      url.searchParams.set("limit", cfg.limit);
      url.searchParams.set("grid", String(Math.min(8, Math.max(Math.pow(2, -13), cell))));
      for (const [k, v] of Object.entries(geomap.filters || {})) if (v) url.searchParams.set(k, v);
      getJSON(url.toString(), controller.signal).then(draw).catch(function (e) {
        if (e.name !== "AbortError") status(map, cfg.labels.error + ": " + e.message, true);
      });
    }

    function schedule() { clearTimeout(timer); timer = setTimeout(load, 150); }
    map.on("moveend", schedule);
    // folium adds the layer to the map after this function returns: load when that happens
    layer.on("add", function () { circles.addTo(map); grid.addTo(map); load(); });
    layer.on("remove", function () { map.removeLayer(circles); map.removeLayer(grid); });
    geomap.reloadTestimonies = load;
  };

  geomap.legend = function (map, cfg) {
    const c = L.control({ position: "bottomright" });
    c.onAdd = function () {
      // a <details>: open on wide screens, a one-line button on phones and tablets
      const box = el("details", { class: "gm-legend leaflet-control" },
                     [el("summary", { text: cfg.title })]);
      box.open = !window.matchMedia(NARROW).matches;
      const rows = {};
      for (const [code, name] of cfg.types) {  // [code, label] pairs, in vocabulary order
        const count = el("span", { class: "gm-count" });
        rows[code] = el("div", { class: "gm-legend-row" }, [
          el("span", { class: "gm-swatch", background: cfg.colours[code] }),
          el("span", { text: name }), count,
        ]);
        rows[code].count = count;
        box.appendChild(rows[code]);
      }
      // once sites are loaded, show counts and hide types with no site on the map
      map.on("geomap:sites", function (e) {
        for (const [code, row] of Object.entries(rows)) {
          const n = e.byType[code] || 0;
          row.hidden = n === 0;
          row.count.textContent = String(n);
        }
      });
      box.appendChild(el("div", { class: "gm-legend-row" }, [
        el("span", { class: "gm-swatch gm-swatch-testimony" }), el("span", { text: cfg.testimony }),
      ]));
      for (const [code, name] of cfg.grades) {
        const sw = el("span", { class: "gm-swatch gm-swatch-grade" });
        sw.style.borderColor = GRADE_RING[code];
        box.appendChild(el("div", { class: "gm-legend-row" }, [sw, el("span", { text: name })]));
      }
      box.appendChild(el("div", { class: "gm-legend-row" }, [
        el("span", { class: "gm-swatch gm-swatch-cluster" }), el("span", { text: cfg.cluster }),
      ]));
      box.appendChild(el("div", { class: "gm-legend-row" }, [
        el("span", { class: "gm-swatch gm-swatch-circle" }), el("span", { text: cfg.uncertainty }),
      ]));
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    c.addTo(map);
  };
})();

/* Filters by facility type (sites) and violation (testimonies), and the map's state in its
   URL: centre, zoom, period, filters, layers. The address bar follows the map
   (history.replaceState), so a copied link opens the same map; what a link says is checked
   strictly (numbers in range, known codes only) and anything else is ignored. */
(function () {
  "use strict";
  const geomap = (window.geomap = window.geomap || {});
  const NARROW = "(max-width: 899px)";
  const YEAR = /^(19|20)\d\d$/;
  const COORD = /^-?\d{1,3}(\.\d{1,7})?$/;
  const STATE_KEYS = ["lat", "lon", "z", "from", "to", "type", "violation", "layers", "base"];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children || []) if (c) node.appendChild(c);
    return node;
  }

  /* the layer controls, to find layers by their keys (init hooks run before folium makes it) */
  const controls = [];
  if (window.L && L.Control && L.Control.Layers) {
    L.Control.Layers.addInitHook(function () { controls.push(this); });
  }

  function codes(value, known) {
    if (typeof value !== "string" || value.length > 1000) return [];
    const out = [];
    for (const c of value.split(",")) if (known.indexOf(c) >= 0 && out.indexOf(c) < 0) out.push(c);
    return out;
  }

  /* The state a URL asks for, validated; cfg: {types, violations, minZoom, maxZoom, layers}. */
  geomap.parseMapState = function (search, cfg) {
    const q = new URLSearchParams(search);
    const st = { types: codes(q.get("type"), cfg.types),
                 violations: codes(q.get("violation"), cfg.violations),
                 from: null, to: null, view: null, layers: null, base: null };
    const lat = q.get("lat"), lon = q.get("lon"), z = q.get("z");
    if (lat && lon && z && COORD.test(lat) && COORD.test(lon) && /^\d{1,2}$/.test(z)) {
      const a = Number(lat), o = Number(lon), zz = Number(z);
      if (Math.abs(a) <= 85 && Math.abs(o) <= 180 && zz >= cfg.minZoom && zz <= cfg.maxZoom) {
        st.view = { center: [a, o], zoom: zz };
      }
    }
    for (const k of ["from", "to"]) if (YEAR.test(q.get(k) || "")) st[k] = Number(q.get(k));
    if (st.from && st.to && st.from > st.to) { st.from = null; st.to = null; }
    const keys = Object.values(cfg.layers || {});
    // `layers=` (empty) is "no overlays"; a list with nothing known in it is ignored
    const layers = q.has("layers") ? codes(q.get("layers"), keys) : [];
    if (q.get("layers") === "" || layers.length) st.layers = layers;
    const base = codes(q.get("base"), keys);
    if (base.length === 1) st.base = base[0];
    return st;
  };

  function periodText(from, to) {  // as the period filter writes it (geomap.periodFilter)
    return from && to ? from + "-" + to : from ? "after " + (from - 1) : to ? "before " + (to + 1) : "";
  }

  function periodYears(period) {
    let m;
    if (!period) return [null, null];
    if ((m = /^(\d{4})-(\d{4})$/.exec(period))) return [Number(m[1]), Number(m[2])];
    if ((m = /^after (\d{4})$/.exec(period))) return [Number(m[1]) + 1, null];
    if ((m = /^before (\d{4})$/.exec(period))) return [null, Number(m[1]) - 1];
    return [null, null];
  }

  function setFilters(types, violations) {
    geomap.siteFilters = { facility_type: types.join(",") };
    geomap.filters = Object.assign(geomap.filters || {}, { violation: violations.join(",") });
  }

  function entries(cfg) {
    const out = [];
    for (const c of controls) for (const e of c._layers || []) {
      const key = (cfg.layers || {})[e.name];
      if (key) out.push({ key: key, layer: e.layer, overlay: e.overlay });
    }
    return out;
  }

  function applyLayers(map, st, cfg) {
    for (const e of entries(cfg)) {
      if (e.overlay && st.layers) {
        const want = st.layers.indexOf(e.key) >= 0;
        if (want && !map.hasLayer(e.layer)) map.addLayer(e.layer);
        if (!want && map.hasLayer(e.layer)) map.removeLayer(e.layer);
      }
    }
    if (st.base) {
      const bases = entries(cfg).filter(function (e) { return !e.overlay; });
      const chosen = bases.find(function (e) { return e.key === st.base; });
      if (chosen) {
        for (const e of bases) if (e !== chosen && map.hasLayer(e.layer)) map.removeLayer(e.layer);
        if (!map.hasLayer(chosen.layer)) map.addLayer(chosen.layer);
      }
    }
  }

  let baseline = null;  // the state a bare address opened with: not written until it changes

  function write(map, cfg) {
    const c = map.getCenter(), z = map.getZoom(), digits = z >= 12 ? 5 : 4;
    const q = new URLSearchParams(window.location.search);  // others (lang) stay as they are
    for (const k of STATE_KEYS) q.delete(k);
    q.set("lat", c.lat.toFixed(digits));
    q.set("lon", c.lng.toFixed(digits));
    q.set("z", String(z));
    const [from, to] = periodYears((geomap.filters || {}).period);
    if (from) q.set("from", String(from));
    if (to) q.set("to", String(to));
    const types = (geomap.siteFilters || {}).facility_type, vio = (geomap.filters || {}).violation;
    if (types) q.set("type", types);
    if (vio) q.set("violation", vio);
    const all = entries(cfg);
    if (all.length) {
      q.set("layers", all.filter(function (e) { return e.overlay && map.hasLayer(e.layer); })
                         .map(function (e) { return e.key; }).join(","));
      const base = all.find(function (e) { return !e.overlay && map.hasLayer(e.layer); });
      if (base) q.set("base", base.key);
    }
    const url = window.location.pathname + "?" + q.toString().replace(/%2C/g, ",");
    if (baseline === "") { baseline = url; return; }  // the bare address's own state
    if (baseline !== null) {
      if (url === baseline) return;
      baseline = null;
    }
    if (url !== window.location.pathname + window.location.search) {
      window.history.replaceState(window.history.state, "", url);
    }
    geomap.state.url = url;
  }

  /* Runs before the layers are made (so their first requests already carry the filters);
     layers and the period inputs are set once folium's script has made them. */
  geomap.mapState = function (map, cfg) {
    const st = geomap.parseMapState(window.location.search, cfg);
    setFilters(st.types, st.violations);
    const period = periodText(st.from, st.to);
    if (period) geomap.filters.period = period;
    if (st.view) map.setView(st.view.center, st.view.zoom, { animate: false });
    geomap.mapStateRequested = st;
    setTimeout(function () {
      applyLayers(map, st, cfg);
      const years = map.getContainer().querySelectorAll(".gm-period input");
      if (years.length === 2) {
        years[0].value = st.from ? String(st.from) : "";
        years[1].value = st.to ? String(st.to) : "";
      }
      let timer = null;
      const later = function () { clearTimeout(timer); timer = setTimeout(function () { write(map, cfg); }, 250); };
      map.on("moveend overlayadd overlayremove baselayerchange geomap:sites geomap:filters", later);
      // a link with state is rewritten at once (what it said that was not valid goes); a bare
      // address stays bare until the user moves or filters
      const q = new URLSearchParams(window.location.search);
      if (!STATE_KEYS.some(function (k) { return q.has(k); })) baseline = "";
      write(map, cfg);
    }, 0);
  };

  /* cfg: {title, types: [[code, label]], violations: [[code, label]], typesTitle,
     violationsTitle, none} */
  geomap.mapFilters = function (map, cfg) {
    const c = L.control({ position: "topleft" });
    c.onAdd = function () {
      const summary = el("summary", { text: cfg.title });
      const box = el("details", { class: "gm-filters leaflet-control" }, [summary]);
      const groups = {};
      function group(name, title, items, selected) {
        const list = el("div", { class: "gm-filter-list" });
        groups[name] = [];
        for (const [code, text] of items) {
          const cb = el("input", { type: "checkbox", value: code, name: name });
          cb.checked = selected.indexOf(code) >= 0;
          groups[name].push(cb);
          list.appendChild(el("label", { class: "gm-filter-item" }, [cb, el("span", { text: text })]));
        }
        box.appendChild(el("fieldset", { class: "gm-filter-group" }, [el("legend", { text: title }), list]));
      }
      const types = ((geomap.siteFilters || {}).facility_type || "").split(",");
      const vio = ((geomap.filters || {}).violation || "").split(",");
      group("type", cfg.typesTitle, cfg.types, types);
      group("violation", cfg.violationsTitle, cfg.violations, vio);
      box.appendChild(el("p", { class: "gm-filter-note", text: cfg.none }));
      function chosen(name) {
        return groups[name].filter(function (cb) { return cb.checked; }).map(function (cb) { return cb.value; });
      }
      function count() {
        const n = chosen("type").length + chosen("violation").length;
        summary.textContent = n ? cfg.title + " (" + n + ")" : cfg.title;
        box.classList.toggle("gm-filters-active", n > 0);
        return n;
      }
      box.addEventListener("change", function () {
        setFilters(chosen("type"), chosen("violation"));
        count();
        if (geomap.reloadSites) geomap.reloadSites();
        if (geomap.reloadTestimonies) geomap.reloadTestimonies();
        map.fire("geomap:filters");
      });
      box.open = count() > 0 && !window.matchMedia(NARROW).matches;
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    c.addTo(map);
  };
})();
