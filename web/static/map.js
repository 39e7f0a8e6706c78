// The site map: health colours, problem sites never clustered, search without diacritics.
// Loaded as a file (CSP script-src 'self'); its settings come from #map's data-config.
(function () {
  "use strict";

  var el = document.getElementById("map");
  var config = JSON.parse(el.getAttribute("data-config"));
  var labels = config.labels;
  var RANK = { problem: 3, warning: 2, unknown: 1, ok: 0 };

  // Same rule as inventory.search.fold: lower case, no diacritics, đ → d, spaces collapsed.
  function fold(text) {
    return String(text || "")
      .replace(/[đĐð]/g, "d").replace(/ł/g, "l").replace(/ø/g, "o").replace(/ß/g, "ss")
      .normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  }

  // markercluster needs the map's maxZoom, which a missing tile layer would leave undefined.
  var maxZoom = config.tiles ? config.tiles.maxZoom : 18;
  var map = L.map(el, { zoomControl: true, worldCopyJump: true, minZoom: 2, maxZoom: maxZoom });
  window.sitescoutBasemap(map, el, config);  // tiles and attribution, or the no-basemap notice: basemap.js
  map.setView([16, 106], 5);

  var records = [];  // {feature, marker, key}

  // Cluster icons show how many sites they hold and the worst health among them.
  var clusters = L.markerClusterGroup({
    chunkedLoading: true,
    chunkProgress: function (processed, total) {
      if (records.length && processed === total) {  // every marker placed: the benchmark's "markers drawn"
        el.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
      }
    },
    showCoverageOnHover: false,
    maxClusterRadius: 50,
    iconCreateFunction: function (cluster) {
      var worst = "ok";
      cluster.getAllChildMarkers().forEach(function (m) {
        if (RANK[m.options.health] > RANK[worst]) { worst = m.options.health; }
      });
      var n = cluster.getChildCount();
      return L.divIcon({
        html: "<div><span>" + n + "</span></div>",
        className: "site-cluster health-" + worst,
        iconSize: L.point(40, 40)
      });
    }
  });
  // Problem sites live in a layer of their own, always drawn on top: no cluster can hide them.
  var problems = L.layerGroup();
  clusters.addTo(map);
  problems.addTo(map);

  function siteIcon(p) {
    return L.divIcon({
      className: "site-marker health-" + p.health,
      html: "",
      iconSize: p.health === "problem" ? [22, 22] : [16, 16]
    });
  }

  function tooltipNode(p) {
    var box = document.createElement("div");
    var name = document.createElement("strong");
    name.textContent = p.name;  // text, never HTML: names come from the inventory
    var state = document.createElement("div");
    state.textContent = (labels[p.health] || p.health) + (p.commune ? " · " + p.commune : "");
    box.appendChild(name);
    box.appendChild(state);
    return box;
  }

  // What is wrong at a red or amber site, in words (from GET /api/v1/sites/<id>), fetched once on hover.
  function addReasons(box, p, marker) {
    if (box.getAttribute("data-reasons")) { return; }
    box.setAttribute("data-reasons", "loading");
    fetch(config.siteApiUrl + p.id, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (site) {
        if (!site) { box.removeAttribute("data-reasons"); return; }
        var list = document.createElement("ul");
        list.className = "reasons";
        (site.properties.devices || []).forEach(function (d) {
          (d.reasons || []).forEach(function (reason) {
            var li = document.createElement("li");
            li.className = "reason-" + reason.level;
            li.textContent = d.name + ": " + reason.text;  // text, never HTML
            list.appendChild(li);
          });
        });
        box.appendChild(list);
        box.setAttribute("data-reasons", String(list.childNodes.length));
        if (marker.getTooltip()) { marker.getTooltip().update(); }
      })
      .catch(function () { box.removeAttribute("data-reasons"); });
  }

  function makeMarker(f) {
    var p = f.properties;
    var c = f.geometry.coordinates;
    var marker = L.marker([c[1], c[0]], {
      icon: siteIcon(p), health: p.health, title: p.name, keyboard: true,
      riseOnHover: true, zIndexOffset: p.health === "problem" ? 1000 : 0
    });
    var tip = tooltipNode(p);
    marker.bindTooltip(tip, { direction: "top" });
    if (p.health === "problem" || p.health === "warning") {
      marker.on("tooltipopen", function () { addReasons(tip, p, marker); });
    }
    marker.on("click", function () { window.location.href = config.siteUrl + p.id; });
    marker.on("add", function () {
      var icon = marker.getElement();
      if (icon) {
        icon.setAttribute("data-site-id", String(p.id));
        icon.setAttribute("data-health", p.health);
      }
    });
    return marker;
  }

  function render() {
    var words = fold(document.getElementById("site-search").value);
    var onlyProblems = document.getElementById("problems-only").checked;
    var clustered = [];
    var shown = 0;
    clusters.clearLayers();
    problems.clearLayers();
    var results = document.getElementById("search-results");
    results.textContent = "";
    records.forEach(function (r) {
      var p = r.feature.properties;
      if (words && r.key.indexOf(words) < 0) { return; }
      if (onlyProblems && p.health !== "problem") { return; }
      shown += 1;
      if (p.health === "problem") { problems.addLayer(r.marker); } else { clustered.push(r.marker); }
      if (words && shown <= 20) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = config.siteUrl + p.id;
        a.textContent = p.name;
        a.className = "health-text-" + p.health;
        li.appendChild(a);
        results.appendChild(li);
      }
    });
    if (records.length && !clustered.length) { el.setAttribute("data-drawn-ms", String(Math.round(performance.now()))); }
    clusters.addLayers(clustered);
    document.getElementById("site-count").textContent = shown + " " + labels.sites;
    if (words && shown === 0) {
      var none = document.createElement("li");
      none.textContent = labels.noMatch;
      results.appendChild(none);
    }
    el.setAttribute("data-shown", String(shown));
  }

  function load() {
    var started = performance.now();
    fetch(config.sitesUrl, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (fc) {
        var bounds = [];
        records = fc.features.filter(function (f) { return f.geometry; }).map(function (f) {
          var c = f.geometry.coordinates;
          bounds.push([c[1], c[0]]);
          return { feature: f, marker: makeMarker(f), key: fold(f.properties.name) };
        });
        // With a plan on show, the plan's extent wins (loadPlan fits it).
        if (bounds.length && !config.plan) { map.fitBounds(bounds, { padding: [30, 30], maxZoom: 15 }); }
        render();
        // For the editor's tools (map_edit.js): the map and its site markers, once loaded.
        document.dispatchEvent(new CustomEvent("sitescout:sites-loaded", { detail: { map: map, records: records } }));
        el.setAttribute("data-loaded", String(records.length));
        el.setAttribute("data-load-ms", String(Math.round(performance.now() - started)));
      })
      .catch(function () {
        el.setAttribute("data-error", "1");
        document.getElementById("site-count").textContent = labels.loadFailed;
      });
  }

  // A saved placement plan (/map?plan=ID): coverage bands coloured by DORI level, planned cameras,
  // and the mounts that cannot be used, each with its reasons.  Texts go in as text, never HTML.
  function textBox(title, lines) {
    var box = document.createElement("div");
    var head = document.createElement("strong");
    head.textContent = title;
    box.appendChild(head);
    lines.forEach(function (line) {
      var div = document.createElement("div");
      div.textContent = line;
      box.appendChild(div);
    });
    return box;
  }

  function planPoint(f, latlng) {
    var p = f.properties;
    if (p.kind === "demand") {
      return L.circleMarker(latlng, {
        radius: 3, weight: 1, color: "#222", fillColor: p.covered ? "#222" : "#fff", fillOpacity: 1,
        className: "plan-demand" + (p.covered ? " covered" : "")
      });
    }
    var cls = p.kind === "infeasible_mount" ? "plan-infeasible" : "plan-camera";
    var marker = L.marker(latlng, {
      icon: L.divIcon({ className: cls, html: "", iconSize: [14, 14] }), keyboard: true,
      title: p.kind === "infeasible_mount" ? p.mount_id : p.camera_id, zIndexOffset: 2000
    });
    marker.on("add", function () {
      var icon = marker.getElement();
      if (icon) { icon.setAttribute("data-plan-kind", p.kind); icon.setAttribute("data-mount-id", p.mount_id || ""); }
    });
    return marker;
  }

  function planFeature(f, layer) {
    var p = f.properties;
    if (p.kind === "infeasible_mount") {
      var reasons = p.reasons && p.reasons.length ? p.reasons : [p.reason || ""];
      layer.bindPopup(textBox(labels.infeasibleMount + ": " + p.mount_id, reasons), { className: "plan-reason" });
      layer.bindTooltip(textBox(labels.infeasibleMount + ": " + p.mount_id, reasons),
        { direction: "top", className: "plan-tip" });
    } else if (p.kind === "camera") {
      layer.bindTooltip(textBox(labels.plannedCamera + " " + p.camera_id, [
        p.model + " · " + labels.heading + " " + Math.round(p.heading_deg) + "° · " + p.mount_id]), { direction: "top" });
    } else if (p.kind === "coverage") {
      layer.bindTooltip(textBox(labels.coverage + " " + p.camera_id, [
        levelName(p.dori_level) + " " + Math.round(p.min_m) + "–" + Math.round(p.max_m) + " m"]), { sticky: true });
    } else if (p.kind === "demand") {
      layer.bindTooltip(textBox(p.area || p.demand_id, [levelName(p.dori_level)]));
    } else if (p.kind === "obstacle") {
      layer.bindTooltip(textBox(labels.obstacle, [p.obstacle_id]), { sticky: true });
    }
  }

  function levelName(level) { return (labels.levels && labels.levels[level]) || level; }

  function legendRow(box, colour, text, cls) {
    var row = document.createElement("div");
    var swatch = document.createElement("span");
    swatch.className = "swatch" + (cls ? " " + cls : "");
    swatch.style.background = colour;  // CSSOM, allowed under style-src 'self'
    row.appendChild(swatch);
    row.appendChild(document.createTextNode(text));
    box.appendChild(row);
  }

  function planLegend(levels, obstacles) {
    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var box = L.DomUtil.create("div", "plan-legend");
      var head = document.createElement("strong");
      head.textContent = labels.plan + ": " + config.plan.name;
      box.appendChild(head);
      Object.keys(levels).forEach(function (level) { legendRow(box, levels[level], levelName(level)); });
      if (obstacles) { legendRow(box, "#6b6b6b", labels.obstacle, "swatch-obstacle"); }
      return box;
    };
    legend.addTo(map);
  }

  function loadPlan() {
    if (!config.plan) { return; }
    fetch(config.plan.url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (fc) {
        var counts = { coverage: 0, camera: 0, infeasible_mount: 0, demand: 0, obstacle: 0 };
        var levels = {};
        // Widest bands first, so the stronger (narrower) levels lie on top; buildings over the bands.
        function depth(f) { return f.properties.kind === "obstacle" ? -1 : (f.properties.max_m || 0); }
        fc.features.sort(function (a, b) { return depth(b) - depth(a); });
        var layer = L.geoJSON(fc, {
          // Applies to every vector layer, the demand dots included: only coverage bands take a colour.
          style: function (f) {
            if (f.properties.kind === "obstacle") {  // a building footprint of the plan: it blocks the view
              return { color: "#333333", fillColor: "#6b6b6b", fillOpacity: 0.6, weight: 1, className: "plan-obstacle" };
            }
            if (f.properties.kind !== "coverage") { return {}; }
            var c = f.properties.colour || "#888888";
            levels[f.properties.dori_level] = c;
            return { color: c, fillColor: c, fillOpacity: 0.3, weight: 1, className: "plan-coverage" };
          },
          pointToLayer: planPoint,
          onEachFeature: function (f, l) { counts[f.properties.kind] = (counts[f.properties.kind] || 0) + 1; planFeature(f, l); }
        }).addTo(map);
        var points = layer.getLayers().filter(function (l) { return l.getLatLng; });
        points.forEach(function (l) { if (l.bringToFront) { l.bringToFront(); } });
        if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 19 }); }
        planLegend(levels, counts.obstacle > 0);
        el.setAttribute("data-plan-polygons", String(counts.coverage));
        el.setAttribute("data-plan-cameras", String(counts.camera));
        el.setAttribute("data-plan-infeasible", String(counts.infeasible_mount));
        el.setAttribute("data-plan-obstacles", String(counts.obstacle));
        el.setAttribute("data-plan-loaded", String(fc.features.length));
      })
      .catch(function () {
        el.setAttribute("data-plan-error", "1");
        document.getElementById("site-count").textContent = labels.planLoadFailed;
      });
  }

  document.getElementById("site-search").addEventListener("input", render);
  document.getElementById("problems-only").addEventListener("change", render);
  load();
  loadPlan();
})();
