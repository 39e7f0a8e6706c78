// The map's basemap: tiles from this server's MBTiles route or from the configured tile server, with
// their attribution; or, when neither is configured, a plain background and a notice saying how to add one.
// Loaded before map.js (CSP script-src 'self'), which calls sitescoutBasemap(map, el, config) once.
// Kept apart from map.js so the site and plan layers there can change without touching the basemap.
(function () {
  "use strict";

  // Leaflet shows attributions as HTML: ours are plain text (web/tiles.plain_attribution), escaped here too.
  function escapeText(text) {
    return String(text || "").replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }

  // Count tiles drawn and failed on the map element: what a tester or the browser test reads.
  function countTiles(layer, el) {
    var loaded = 0;
    var failed = 0;
    el.setAttribute("data-tiles-loaded", "0");
    el.setAttribute("data-tiles-failed", "0");
    layer.on("tileload", function () { loaded += 1; el.setAttribute("data-tiles-loaded", String(loaded)); });
    layer.on("tileerror", function () { failed += 1; el.setAttribute("data-tiles-failed", String(failed)); });
    // "load": every tile of the current view has arrived (or failed).
    layer.on("load", function () { el.setAttribute("data-tiles-settled", String(loaded + failed)); });
    layer.on("loading", function () { el.removeAttribute("data-tiles-settled"); });
  }

  function addNotice(map, notice) {
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "basemap-missing");
      box.id = "basemap-missing";
      var title = document.createElement("strong");
      title.textContent = notice.title;  // text, never HTML
      var text = document.createElement("p");
      text.textContent = notice.text;
      box.appendChild(title);
      box.appendChild(text);
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  window.sitescoutBasemap = function (map, el, config) {
    var tiles = config.tiles;
    if (!tiles) {
      el.classList.add("no-basemap");  // plain background: the sites still show
      el.setAttribute("data-basemap", "none");
      if (config.noBasemap) { addNotice(map, config.noBasemap); }
      return null;
    }
    var options = {
      minZoom: tiles.minZoom, maxZoom: tiles.maxZoom, maxNativeZoom: tiles.maxNativeZoom || tiles.maxZoom,
      attribution: escapeText(tiles.attribution)
    };
    if (tiles.bounds) { options.bounds = L.latLngBounds(tiles.bounds); }  // no request outside the file's area
    var layer = L.tileLayer(tiles.url, options);
    countTiles(layer, el);
    layer.addTo(map);
    el.classList.add(tiles.local ? "basemap-local" : "basemap-remote");
    el.setAttribute("data-basemap", tiles.demo ? "demo" : (tiles.local ? "local" : "remote"));
    return layer;
  };
})();
