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
  if (config.tiles) {
    L.tileLayer(config.tiles.url, {
      minZoom: config.tiles.minZoom, maxZoom: config.tiles.maxZoom,
      attribution: config.tiles.attribution || ""
    }).addTo(map);
  } else {
    el.classList.add("no-basemap");  // plain background: the sites still show
  }
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

  function makeMarker(f) {
    var p = f.properties;
    var c = f.geometry.coordinates;
    var marker = L.marker([c[1], c[0]], {
      icon: siteIcon(p), health: p.health, title: p.name, keyboard: true,
      riseOnHover: true, zIndexOffset: p.health === "problem" ? 1000 : 0
    });
    marker.bindTooltip(tooltipNode(p), { direction: "top" });
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
      if (onlyProblems && p.health !== "problem" && p.health !== "warning") { return; }
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
        if (bounds.length) { map.fitBounds(bounds, { padding: [30, 30], maxZoom: 15 }); }
        render();
        el.setAttribute("data-loaded", String(records.length));
        el.setAttribute("data-load-ms", String(Math.round(performance.now() - started)));
      })
      .catch(function () {
        el.setAttribute("data-error", "1");
        document.getElementById("site-count").textContent = labels.loadFailed;
      });
  }

  document.getElementById("site-search").addEventListener("input", render);
  document.getElementById("problems-only").addEventListener("change", render);
  load();
})();
