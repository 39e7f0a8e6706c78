"""The Grafana dashboards and provisioning files: structure, datasources, and every expression parses.

The live test (test_prometheus_live.py) runs the same expressions against a real Prometheus; the helpers
`dashboards()`, `panel_queries()`, `variable_queries()` and `substitute()` are shared with it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sitescout.probes.worker.metric_defs import BY_NAME

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
RECORDING = ROOT / "infra" / "prometheus" / "rules" / "sitescout-recording.yml"
PROMTOOL = shutil.which("promtool")
DATASOURCE_UID = "sitescout-prometheus"

#: Metric names from the brief and the worker contract (histograms and counters by their base name).
CONTRACT_METRICS = {
    "sitescout_device_up", "sitescout_link_rtt_seconds", "sitescout_link_jitter_seconds", "sitescout_link_loss_ratio",
    "sitescout_onvif_up", "sitescout_onvif_clock_offset_seconds", "sitescout_camera_info", "sitescout_stream_up",
    "sitescout_stream_fps", "sitescout_stream_expected_fps", "sitescout_stream_width_pixels",
    "sitescout_stream_height_pixels", "sitescout_stream_bitrate_bits_per_second", "sitescout_stream_frozen",
    "sitescout_stream_black", "sitescout_stream_open_seconds", "sitescout_probe_duration_seconds",
    "sitescout_probe_errors_total", "sitescout_config_last_reload_successful",
    "sitescout_config_last_reload_success_timestamp_seconds", "sitescout_worker_targets", "sitescout_worker_info",
    "sitescout_site_info",
}
#: What Grafana puts in place of its built-in variables when the tests run an expression.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
EXPECTED_DASHBOARDS = {"sitescout-overview", "sitescout-site", "sitescout-camera", "sitescout-link"}


def dashboards() -> dict[str, dict[str, Any]]:
    """Return every dashboard JSON of infra/grafana/dashboards by file stem."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def _panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def panel_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield (panel title, refId, expr) for every query of every panel."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["refId"], target["expr"]


def variable_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield (variable, metric selector, label) for every label_values() template variable."""
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
        assert m, f"{var['name']}: only label_values(selector, label) variables are used: {query}"
        yield var["name"], m.group(1), m.group(2)


def prometheus_regex_escape(value: str) -> str:
    """Escape a value the way Grafana does for a Prometheus regex matcher."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace $var / ${var} / [[var]] with `values` (already regex-escaped) and Grafana's built-ins."""
    merged = {**BUILTINS, **values}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in merged:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return merged[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


def _recorded() -> set[str]:
    doc = yaml.safe_load(RECORDING.read_text(encoding="utf-8"))
    return {r["record"] for g in doc["groups"] for r in g["rules"]}


def test_the_four_dashboards_exist() -> None:
    assert set(dashboards()) == EXPECTED_DASHBOARDS


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_model(name: str) -> None:
    d = dashboards()[name]
    assert d["uid"] == name and 8 <= len(d["uid"]) <= 40
    assert d["title"].startswith("sitescout — ") and "sitescout" in d["tags"]
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert d["time"]["from"] and d["refresh"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
    ids = [p["id"] for p in _panels(d)]
    assert len(ids) == len(set(ids)), "panel ids repeat"


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_every_panel_has_a_datasource_and_queries(name: str) -> None:
    for panel in _panels(dashboards()[name]):
        if panel["type"] == "row":
            continue
        where = f"{name}: {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], f"{where}: no queries"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: refIds repeat"
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], where
            assert target["expr"].strip(), f"{where}: empty expression"
        assert panel["description"], f"{where}: say what the panel shows"


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_panels_fit_the_grid_without_overlap(name: str) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboards()[name]["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{name}: {panel['title']} overlaps another panel"
        taken |= cells


def test_metric_names_are_defined_or_recorded() -> None:
    # Defined once in probes/worker/metric_defs.py (which holds the brief's names), or a recording rule.
    known = set(BY_NAME) | _recorded() | {"up", "ALERTS"}
    for name, d in dashboards().items():
        exprs = [e for _, _, e in panel_queries(d)] + [s for _, s, _ in variable_queries(d)]
        for expr in exprs:
            for metric in re.findall(r"(?<![\w\"-])(sitescout[a-z0-9_:]*)", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                assert metric in known or base in known, f"{name}: unknown metric {metric} in {expr}"


def test_overview_has_a_geomap_of_sites_coloured_by_health() -> None:
    d = dashboards()["sitescout-overview"]
    (geomap,) = [p for p in _panels(d) if p["type"] == "geomap"]
    (target,) = geomap["targets"]
    assert "sitescout_site_info" in target["expr"] and "sitescout:site_ok:ratio" in target["expr"]
    assert target["format"] == "table" and target["instant"] is True
    (layer,) = geomap["options"]["layers"]
    assert layer["location"] == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}
    assert layer["config"]["style"]["color"]["field"] == "Value"
    steps = geomap["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["color"] for s in steps] == ["red", "orange", "green"]


def test_link_dashboard_is_smokeping_style() -> None:
    d = dashboards()["sitescout-link"]
    panels = list(_panels(d))
    smoke = next(p for p in panels if "smokeping" in p["title"])
    exprs = " ".join(t["expr"] for t in smoke["targets"])
    assert all(f"histogram_quantile({q}," in exprs for q in ("0.1", "0.5", "0.9"))
    fill = [
        prop
        for o in smoke["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "custom.fillBelowTo"
    ]
    assert fill == [{"id": "custom.fillBelowTo", "value": "p10"}]
    assert smoke.get("repeat") == "device"
    assert any(p["type"] == "heatmap" for p in panels)
    assert any("sitescout_link_jitter_seconds" in t["expr"] for p in panels for t in p["targets"])


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_every_expression_parses(tmp_path: Path) -> None:
    """promtool parses each panel and variable expression (written as recording rules) after substitution."""
    values = {"site": prometheus_regex_escape("Thôn Đồng Bùa"), "device": "cam-1", "datasource": DATASOURCE_UID}
    rules: list[dict[str, Any]] = []
    for name, d in dashboards().items():
        for title, ref, expr in panel_queries(d):
            rules.append({"record": f"dashboard:q{len(rules)}", "expr": substitute(expr, values),
                          "labels": {"panel": f"{name}/{title}/{ref}"}})
        for var, selector, _label in variable_queries(d):
            rules.append({"record": f"dashboard:q{len(rules)}", "expr": substitute(selector, values),
                          "labels": {"panel": f"{name}/${var}"}})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, allow_unicode=True),
                    encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_provisioning_points_at_the_dashboards() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "sitescout.yaml").read_text(encoding="utf-8"))
    (source,) = ds["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus" and source["url"].startswith("http")
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "sitescout.yaml").read_text(encoding="utf-8"))
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    assert ds["apiVersion"] == 1 and prov["apiVersion"] == 1


def test_substitute_handles_grafana_variable_forms() -> None:
    assert substitute('x{a=~"$site",b="${device}"}[$__rate_interval]', {"site": "A", "device": "B"}) == \
        'x{a=~"A",b="B"}[1m]'
    assert prometheus_regex_escape("a.b (c)") == r"a\\.b \\(c\\)"
    with pytest.raises(KeyError):
        substitute("$nope", {})


@pytest.mark.parametrize("uid", sorted(EXPECTED_DASHBOARDS))
def test_generated_dashboard_is_current(uid: str) -> None:
    """The committed JSON is what infra/dashboards.py builds (regenerate: see its docstring)."""
    from sitescout.infra.dashboards import DASHBOARDS, render
    assert set(DASHBOARDS) == EXPECTED_DASHBOARDS, "every dashboard is generated"
    assert (DASHBOARD_DIR / f"{uid}.json").read_text(encoding="utf-8") == render(uid), \
        f"{uid}.json is stale: python -m sitescout.infra.dashboards infra/grafana/dashboards"
