/* The planners' workbench: draw a design, run the optimiser, move cameras by hand (no CDN, no inline script). */
(function () {
  'use strict';
  const root = document.getElementById('workbench');
  const cfg = JSON.parse(root.dataset.config);
  const T = cfg.labels;
  const colours = {};
  cfg.levels.forEach(function (l) { colours[l.name] = l.colour; });
  const levelText = {};
  cfg.levels.forEach(function (l) { levelText[l.name] = l.text; });
  const map = L.map('plan-map', {doubleClickZoom: false});
  if (cfg.center) { map.setView(cfg.center, 18); } else { map.setView([16.0, 106.0], 6); }
  if (window.sitescoutBasemap) { window.sitescoutBasemap(map, document.getElementById('plan-map'), cfg); }
  const designLayer = L.layerGroup().addTo(map);
  const resultLayer = L.layerGroup().addTo(map);
  const sketchLayer = L.layerGroup().addTo(map);
  let design = {type: 'FeatureCollection', features: []};
  let plan = null;
  let models = [];
  let tool = null;
  let vertices = [];
  const $ = function (id) { return document.getElementById(id); };
  const el = function (tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  };
  // Tooltips and popups get an element, never a string: Leaflet writes a string as HTML, and names,
  // ids and reasons come from the plan's design (any editor's text).
  const tip = function (text) { return el('span', String(text)); };

  function status(text, isError) {
    $('wb-status').textContent = text || '';
    $('wb-status').classList.toggle('error', !!isError);
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method: method, credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': cfg.csrf},
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) { throw new Error(data.message || data.error || T.failed); }  // message: the reader's language
    return data;
  }

  /* ---- drawing ---- */
  function setTool(name) {
    tool = name;
    vertices = [];
    sketchLayer.clearLayers();
    document.querySelectorAll('[data-tool]').forEach(function (b) { b.classList.toggle('active', b.dataset.tool === tool); });
    $('wb-finish').disabled = true;
    $('wb-hint').textContent = tool ? T.clickMap : '';
    root.dataset.activeTool = tool || '';
  }

  function props(kind) {
    const p = {kind: kind};
    const name = $('wb-name').value.trim();
    if (name) { p.name = name; }
    if (kind === 'demand' || kind === 'poi') { p.level = $('wb-level').value; }
    if (kind === 'mount') {
      p.height_m = parseFloat($('wb-height').value) || 6;
      p.power = $('wb-power').value;
      if ($('wb-cable').value !== '') { p.cable_m = parseFloat($('wb-cable').value); }
      p.id = 'm' + (design.features.filter(function (f) { return f.properties.kind === 'mount'; }).length + 1);
    }
    return p;
  }

  function addFeature(geometry, kind) {
    if (kind === 'switch') {
      design.features = design.features.filter(function (f) { return f.properties.kind !== 'switch'; });
    }
    design.features.push({type: 'Feature', geometry: geometry, properties: props(kind)});
    $('wb-name').value = '';
    drawDesign();
    saveDesign();
  }

  map.on('click', function (e) {
    if (!tool || !cfg.canEdit) { return; }
    const point = [Math.round(e.latlng.lng * 1e7) / 1e7, Math.round(e.latlng.lat * 1e7) / 1e7];
    if (tool === 'demand' || tool === 'obstacle') {
      vertices.push(point);
      sketchLayer.clearLayers();
      L.polyline(vertices.map(function (v) { return [v[1], v[0]]; }), {color: '#333', dashArray: '4'}).addTo(sketchLayer);
      vertices.forEach(function (v) { L.circleMarker([v[1], v[0]], {radius: 3}).addTo(sketchLayer); });
      $('wb-finish').disabled = vertices.length < 3;
      root.dataset.vertices = String(vertices.length);
    } else {
      addFeature({type: 'Point', coordinates: point}, tool);
    }
  });

  function finishShape() {
    if (vertices.length < 3) { return; }
    const ring = vertices.concat([vertices[0]]);
    const kind = tool;
    vertices = [];
    sketchLayer.clearLayers();
    $('wb-finish').disabled = true;
    addFeature({type: 'Polygon', coordinates: [ring]}, kind);
  }

  function drawDesign() {
    designLayer.clearLayers();
    design.features.forEach(function (f) {
      const p = f.properties;
      if (p.kind === 'demand') {
        L.geoJSON(f, {style: {color: colours[p.level] || '#555', weight: 2, dashArray: '6 4', fillOpacity: 0.05,
          className: 'wb-demand'}}).bindTooltip(tip((p.name || T.demand) + ' · ' + (levelText[p.level] || p.level))).addTo(designLayer);
      } else if (p.kind === 'obstacle') {
        L.geoJSON(f, {style: {color: '#555', weight: 1, fillColor: '#777', fillOpacity: 0.6, className: 'wb-obstacle'}}).addTo(designLayer);
      } else if (f.geometry.type === 'Point') {
        const ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        if (p.kind === 'poi') {
          L.circleMarker(ll, {radius: 5, color: '#222', className: 'wb-poi'})
            .bindTooltip(tip((p.name || T.poi) + ' · ' + (levelText[p.level] || p.level))).addTo(designLayer);
        } else {
          const cls = p.kind === 'switch' ? 'wb-switch' : 'wb-mount';
          L.marker(ll, {icon: L.divIcon({className: cls, iconSize: [10, 10]}), keyboard: false})
            .bindTooltip(tip(p.kind === 'switch' ? T.switch : (p.id + ' · ' + p.height_m + ' m'))).addTo(designLayer);
        }
      }
    });
    root.dataset.designFeatures = String(design.features.length);
  }

  async function saveDesign() {
    if (!cfg.canEdit) { return; }
    try {
      status('…');
      const answer = plan && plan.workbench ? await api('PUT', cfg.urls.plan + plan.saved.plan_id + '/design', design)
        : await api('POST', cfg.urls.create, {name: T.newAlternative + ' 1', design: design});
      show(answer);
      status(T.saved);
    } catch (err) { status(err.message, true); }
  }

  /* ---- results ---- */
  function show(answer) {
    plan = answer;
    if (answer.workbench && answer.workbench.design) { design = answer.workbench.design; drawDesign(); }
    resultLayer.clearLayers();
    let wedges = 0;
    answer.features.forEach(function (f) {
      const p = f.properties;
      if (p.kind === 'coverage') {
        wedges += 1;
        L.geoJSON(f, {style: {color: p.colour, weight: 1, fillColor: p.colour, fillOpacity: 0.3,
          className: 'wb-coverage'}}).bindTooltip(tip(p.camera_id + ' · ' + (p.dori_level_text || p.dori_level))).addTo(resultLayer);
      } else if (p.kind === 'demand') {
        L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {radius: 2, weight: 1,
          color: p.covered ? '#222' : '#d0021b', fillOpacity: p.covered ? 0.6 : 1,
          className: p.covered ? 'wb-covered' : 'wb-uncovered'}).addTo(resultLayer);
      } else if (p.kind === 'infeasible_mount') {
        const m = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]],
          {icon: L.divIcon({className: 'wb-infeasible', iconSize: [12, 12]}), keyboard: false});
        m.bindPopup(tip(p.mount_id + ': ' + (p.reasons_text || p.reasons).join('; ')));
        m.addTo(resultLayer);
      }
    });
    const problems = {};
    (answer.plan.camera_problems || []).forEach(function (c) { problems[c.camera_id] = c; });
    answer.features.filter(function (f) { return f.properties.kind === 'camera'; }).forEach(function (f, i) {
      const p = f.properties;
      const icon = L.divIcon({className: 'wb-camera' + (problems[p.camera_id] ? ' has-problem' : ''),
        iconSize: [16, 16], html: String(i + 1)});
      const marker = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]],
        {icon: icon, draggable: cfg.canEdit, title: p.camera_id + ' ' + p.model});
      marker.on('dragend', function () {
        const ll = marker.getLatLng();
        patchCamera(i + 1, {lat: Math.round(ll.lat * 1e7) / 1e7, lon: Math.round(ll.lng * 1e7) / 1e7});
      });
      marker.addTo(resultLayer);
      marker.getElement().dataset.camera = String(i + 1);
    });
    root.dataset.wedges = String(wedges);
    $('wb-print').href = cfg.urls.print + answer.saved.plan_id + '/print';
    $('wb-print').hidden = !answer.workbench;
    root.dataset.cameras = String((answer.workbench && answer.workbench.layout || []).length);
    if (answer.workbench && answer.workbench.k) { $('wb-k').value = String(answer.workbench.k); }
    root.dataset.objective = String(answer.plan.objective === undefined ? '' : answer.plan.objective);
    root.dataset.revision = String((parseInt(root.dataset.revision || '0', 10)) + 1);
    summary(answer.plan);
    networkPanel(answer.plan);
    cameraTable(answer);
    compare();
  }

  function row(table, cells, header) {
    const tr = el('tr');
    cells.forEach(function (c) {
      const td = el(header ? 'th' : 'td');
      if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; }
      tr.appendChild(td);
    });
    table.appendChild(tr);
    return tr;
  }

  function pct(v) { return v === null || v === undefined ? '–' : (v * 100).toFixed(0) + ' %'; }
  function money(v) { return v === undefined || v === null ? '–' : Number(v).toLocaleString(document.documentElement.lang); }

  function summary(s) {
    const box = $('wb-summary');
    box.textContent = '';
    const t = el('table');
    Object.keys(s.by_level || {}).forEach(function (name) {
      const label = el('span');
      label.appendChild(el('span', null, 'wb-swatch level-' + name));
      label.appendChild(document.createTextNode(T.coverage + ' · ' + (levelText[name] || name)));
      row(t, [label, pct(s.by_level[name])]);
    });
    row(t, [T.cameras, String(s.cameras || 0)]);
    row(t, [T.cost, money(s.cost)]);
    row(t, [T.gap, s.gap === null || s.gap === undefined ? T.unknown : pct(s.gap)]);
    row(t, [T.poe, String(s.poe_w === undefined ? '–' : s.poe_w)]);
    row(t, [T.uplink, String(s.uplink_kbps === undefined ? '–' : s.uplink_kbps)]);
    box.appendChild(t);
    if ((s.uncovered || []).length) {
      box.appendChild(el('strong', T.uncovered));
      const ul = el('ul', null, 'wb-uncovered');
      s.uncovered.forEach(function (u) { ul.appendChild(el('li', u)); });
      box.appendChild(ul);
    }
    if ((s.camera_problems || []).length) {
      box.appendChild(el('strong', T.problems));
      const ul = el('ul', null, 'wb-problems');
      s.camera_problems.forEach(function (c) { ul.appendChild(el('li', c.camera_id + ': ' + (c.reasons_text || c.reasons).join('; '))); });
      box.appendChild(ul);
    }
  }

  /* Where the PoE, port and uplink limits came from, and the surveyed switches (the server's words). */
  function networkPanel(s) {
    const list = $('wb-network');
    list.textContent = '';
    (s.network_lines || []).forEach(function (line) { list.appendChild(el('li', line)); });
    $('wb-network-section').hidden = !(s.network_lines || []).length;
  }

  /* The proposed switch port of a camera, or why it has none. */
  function portCell(p) {
    const cell = el('span', p && p.switch_port_text || '–', 'wb-port');
    if (p && p.switch_port && !p.switch_port.port) {
      cell.className += ' no-port';
      const why = (p.switch_port_reasons_text || []).join('; ');
      if (why) { cell.textContent = why; cell.title = p.switch_port_text; }
    }
    return cell;
  }

  function cameraTable(answer) {
    const t = $('wb-cameras');
    t.textContent = '';
    const layout = answer.workbench && answer.workbench.layout || [];
    if (!layout.length) { return; }
    const cams = answer.features.filter(function (f) { return f.properties.kind === 'camera'; });
    row(t, ['#', T.model, T.heading, T.switchPort], true);
    layout.forEach(function (cam, i) {
      const select = el('select');
      models.forEach(function (m) {
        const o = el('option', m.name);
        o.value = m.name;
        o.selected = m.name === cam.model;
        select.appendChild(o);
      });
      select.disabled = !cfg.canEdit;
      select.addEventListener('change', function () { patchCamera(i + 1, {model: select.value}); });
      const heading = el('input');
      heading.type = 'number'; heading.min = '0'; heading.max = '359'; heading.step = '5';
      heading.value = String(Math.round(cam.heading_deg || 0));
      heading.disabled = !cfg.canEdit;
      heading.dataset.camera = String(i + 1);
      heading.addEventListener('change', function () { patchCamera(i + 1, {heading_deg: parseFloat(heading.value) || 0}); });
      row(t, [String(i + 1), select, heading, portCell(cams[i] && cams[i].properties)]);
    });
  }

  async function patchCamera(n, change) {
    try {
      show(await api('PATCH', cfg.urls.plan + plan.saved.plan_id + '/cameras/' + n, change));
      status(T.saved + ' (' + Math.round(plan.plan.answered_in_s * 1000) + ' ms)');
    } catch (err) { status(err.message, true); if (plan) { show(plan); } }
  }

  async function optimise() {
    if (!plan) { return; }
    try {
      status('…');
      const body = {k: parseInt($('wb-k').value, 10) || 1};
      if ($('wb-budget').value !== '') { body.budget = parseFloat($('wb-budget').value); }
      show(await api('POST', cfg.urls.plan + plan.saved.plan_id + '/optimise', body));
      status(T.saved);
    } catch (err) { status(err.message, true); }
  }

  /* ---- alternatives ---- */
  function compare() {
    if (plan) {
      const mine = cfg.plans.find(function (p) { return p.id === plan.saved.plan_id; });
      const entry = {id: plan.saved.plan_id, name: plan.saved.name, cameras: (plan.plan.cameras || 0),
        summary: plan.plan, of_record: plan.saved.of_record, network_stale: false};
      if (mine) { Object.assign(mine, entry); } else { cfg.plans.unshift(entry); }
    }
    const t = $('wb-compare');
    t.textContent = '';
    const levels = cfg.levels.map(function (l) { return l.name; });
    row(t, [T.name, T.cameras, T.cost].concat(levels.map(function (n) { return levelText[n]; })).concat([T.poe]), true);
    cfg.plans.forEach(function (p) {
      const s = p.summary || {};
      const by = s.by_level || {};
      const tr = row(t, [p.name + (p.of_record ? ' ✓' : ''), String(p.cameras || 0), money(s.cost)]
        .concat(levels.map(function (n) { return pct(by[n]); })).concat([String(s.poe_w === undefined ? '–' : s.poe_w)]));
      tr.classList.toggle('current', !!plan && p.id === plan.saved.plan_id);
      if (p.network_stale) {  /* the site's survey, cables or planned cameras changed since: evaluated again when opened */
        tr.classList.add('stale');
        tr.title = T.networkStale;
        tr.firstChild.textContent += ' ⚠';
      }
      tr.addEventListener('click', function () { load(p.id); });
    });
  }

  async function load(id) {
    try { show(await api('GET', cfg.urls.plan + id)); } catch (err) { status(err.message, true); }
  }

  async function newAlternative() {
    try {
      const answer = await api('POST', cfg.urls.create, {name: T.newAlternative + ' ' + (cfg.plans.length + 1), design: design});
      show(answer);
    } catch (err) { status(err.message, true); }
  }

  async function adopt() {
    if (!plan) { return; }
    try { show(await api('POST', cfg.urls.plan + plan.saved.plan_id + '/adopt', {})); status(T.ofRecord); }
    catch (err) { status(err.message, true); }
  }

  function importObstacles(file) {
    const reader = new FileReader();
    reader.onload = function () {
      try {
        const doc = JSON.parse(reader.result);
        const features = doc.type === 'FeatureCollection' ? doc.features : [doc];
        features.forEach(function (f) {
          if (f && f.geometry && (f.geometry.type === 'Polygon' || f.geometry.type === 'MultiPolygon')) {
            design.features.push({type: 'Feature', geometry: f.geometry, properties: {kind: 'obstacle'}});
          }
        });
        drawDesign();
        saveDesign();
      } catch (err) { status(err.message, true); }
    };
    reader.readAsText(file);
  }

  /* ---- start ---- */
  cfg.levels.forEach(function (l) {
    const o = el('option', l.text);
    o.value = l.name;
    $('wb-level').appendChild(o);
  });
  document.querySelectorAll('[data-tool]').forEach(function (b) { b.addEventListener('click', function () { setTool(b.dataset.tool); }); });
  $('wb-finish').addEventListener('click', finishShape);
  $('wb-cancel').addEventListener('click', function () { setTool(null); });
  $('wb-run').addEventListener('click', optimise);
  $('wb-new').addEventListener('click', newAlternative);
  $('wb-adopt').addEventListener('click', adopt);
  $('wb-import').addEventListener('change', function () { if (this.files[0]) { importObstacles(this.files[0]); } });
  if (!cfg.canEdit) {
    document.querySelectorAll('#wb-tools, #wb-optimise, #wb-new, #wb-adopt').forEach(function (n) { n.hidden = true; });
  }
  api('GET', cfg.urls.models).then(function (data) { models = data.models; if (plan) { cameraTable(plan); } });
  compare();
  const start = cfg.plans.find(function (p) { return p.summary && p.summary.cameras !== undefined; }) || cfg.plans[0];
  if (start) { load(start.id); }
  root.dataset.ready = '1';
}());
