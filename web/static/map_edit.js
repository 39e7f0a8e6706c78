// The editor's map tools: click "Add a site" then the map to open the new-site form with the
// coordinates filled; tick "Move sites" to drag a site's marker, confirm, and save the move.
// A move carries where the site was when the map was loaded: the server refuses it (409) when
// someone moved the site since.  Loaded only for editors and admins (CSP script-src 'self').
(function () {
  "use strict";

  var tools = document.getElementById("map-edit");
  if (!tools) { return; }
  var mapEl = document.getElementById("map");
  var status = document.getElementById("edit-status");
  var addButton = document.getElementById("add-site");
  var moveBox = document.getElementById("move-sites");
  var map = null;
  var records = [];
  var adding = false;

  function say(text) { status.textContent = text; }

  function setDraggable(marker, on) {
    marker.options.draggable = on;  // applies when a cluster adds the marker to the map again
    if (marker.dragging) { if (on) { marker.dragging.enable(); } else { marker.dragging.disable(); } }
  }

  function moveUrl(id) { return tools.getAttribute("data-move-url").replace("/0/move", "/" + id + "/move"); }

  function saveMove(record, from, to) {
    var p = record.feature.properties;
    var body = new URLSearchParams({
      csrf_token: tools.getAttribute("data-csrf"),
      latitude: to.lat.toFixed(7), longitude: to.lng.toFixed(7),
      seen_latitude: String(from.lat), seen_longitude: String(from.lng)
    });
    fetch(moveUrl(p.id), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": tools.getAttribute("data-csrf"), Accept: "application/json" }
    })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (answer) {
        if (!answer.ok) { throw new Error(answer.body.message || answer.body.error || ""); }
        record.feature.geometry.coordinates = [answer.body.longitude, answer.body.latitude];
        say(tools.getAttribute("data-moved") + " " + p.name);
        mapEl.setAttribute("data-moved-site", String(p.id));
      })
      .catch(function (err) {
        record.marker.setLatLng(from);
        say(tools.getAttribute("data-move-failed") + (err.message ? " " + err.message : ""));
      });
  }

  function watchDrags(record) {
    var from = null;
    record.marker.on("dragstart", function () { from = record.marker.getLatLng(); });
    record.marker.on("dragend", function () {
      var to = record.marker.getLatLng();
      var c = record.feature.geometry.coordinates;
      var seen = L.latLng(c[1], c[0]);
      if (!window.confirm(tools.getAttribute("data-confirm-move") + "\n" + record.feature.properties.name)) {
        record.marker.setLatLng(from || seen);
        return;
      }
      saveMove(record, seen, to);
    });
  }

  document.addEventListener("sitescout:sites-loaded", function (event) {
    map = event.detail.map;
    records = event.detail.records;
    records.forEach(function (r) { watchDrags(r); setDraggable(r.marker, moveBox.checked); });
    map.on("click", function (e) {
      if (!adding) { return; }
      adding = false;
      mapEl.classList.remove("adding-site");
      var url = tools.getAttribute("data-new-url") + "?lat=" + e.latlng.lat.toFixed(6) + "&lon=" + e.latlng.lng.toFixed(6);
      window.location.href = url;
    });
    mapEl.setAttribute("data-edit-ready", "1");
  });

  addButton.addEventListener("click", function () {
    adding = true;
    mapEl.classList.add("adding-site");
    say(tools.getAttribute("data-click-to-add"));
  });

  moveBox.addEventListener("change", function () {
    records.forEach(function (r) { setDraggable(r.marker, moveBox.checked); });
  });
})();
