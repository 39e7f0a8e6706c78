"""One definition per metric: /metrics and /probe write exactly what probes/worker/metric_defs.py says,
and only it names them.

Real HTTP on loopback (a worker serving its targets file), parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import ast
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.exporter import serve_in_background
from sitescout.probes.worker.probe_service import probe_exposition
from sitescout.probes.worker.jobs import ProbeJob, ProbeResult
from sitescout.probes.worker.kinds.snmp import PoeReading, PortReading, PseReading, SnmpResult
from sitescout.probes.worker.records import SnmpTarget, StreamTarget, Target
from sitescout.probes.worker.scheduler import FileTargetSource, Worker

ROOT = Path(__file__).resolve().parents[1]
PROBES = ROOT / "probes"
#: Families /metrics writes beside the worker's own: prometheus_client's process collector.
FOREIGN = ("process_", "python_")
#: Only in a /probe answer, never on /metrics.
PROBE_ONLY = {md.LINK_RTT_AVERAGE, md.LINK_SENT, md.PROBE_FAILED, md.PROBE_SUCCESS, md.PROBE_ELAPSED}
#: Families whose series exist only once a device answered (a switch's ports are not known before): empty at first.
AFTER_A_READ = {md.SNMP_UPTIME, md.INTERFACE_UP, md.INTERFACE_ADMIN_UP, md.INTERFACE_UPLINK, md.INTERFACE_SPEED,
                md.INTERFACE_CAMERA, *(d for _, d in md.INTERFACE_COUNTERS), md.POE_DELIVERING, md.POE_POWER,
                md.POE_BUDGET, md.POE_CONSUMPTION}
BY_FAMILY = {d.family: d for d in md.METRICS}
CAM = Target("s", "cam", "127.0.0.1", "camera", "http://127.0.0.1:9/onvif/device_service", None,
             (StreamTarget("rtsp://127.0.0.1:9/live", "main", 25.0),))

SW = Target("s", "sw", "127.0.0.1", "switch", snmp=SnmpTarget(161, ("p1",)))


def _families(text: str) -> Iterator[tuple[md.MetricDef, str, str, set[str]]]:
    """Yield (definition, type, help, label names seen) for every family of `text` not from FOREIGN."""
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith(FOREIGN):
            continue
        assert fam.name in BY_FAMILY, f"{fam.name}: written but not defined in probes/worker/metric_defs.py"
        labels = {k for s in fam.samples for k in s.labels if k != "le"}
        yield BY_FAMILY[fam.name], fam.type, fam.documentation, labels


def test_definitions_are_well_formed() -> None:
    assert len(md.BY_NAME) == len(md.METRICS), "a metric is defined twice"
    for d in md.METRICS:
        assert d.type in ("gauge", "counter", "histogram"), d
        assert (d.type == "counter") == d.name.endswith("_total"), d
        assert d.help.endswith("."), d
        assert not d.unit or d.family.endswith("_" + d.unit), f"{d.name}: name must end in its unit {d.unit}"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=15) as resp:
        return resp.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """Return the base URL of a worker serving one camera on loopback (closed ports: nothing answers but ICMP)."""
    targets = tmp_path / "targets.yml"
    targets.write_text("""
sites:
  s: {latitude: 21.5, longitude: 105.1}
defaults:
  link: {interval_s: 60, count: 1, echo_interval_s: 0, timeout_s: 0.3}
targets:
  - site: s
    device: cam
    ip: 127.0.0.1
    onvif: http://127.0.0.1:9/onvif/device_service
    streams: [{uri: "rtsp://127.0.0.1:9/live", profile: main, expected_fps: 25}]
  - {site: s, device: sw, ip: 127.0.0.1, kind: switch, snmp: {port: 9}}
""", encoding="utf-8")
    with serve_in_background(Worker(FileTargetSource(targets), poll_s=0.2)) as exporter:
        host, port = exporter.address
        yield f"http://{host}:{port}"


def test_metrics_families_match_their_definitions(served: str) -> None:
    seen = set()
    for d, type_, help_, labels in _families(_get(f"{served}/metrics")):
        assert (type_, help_) == (d.type, d.help), d.name
        assert labels == set(d.labels) or (d in AFTER_A_READ and not labels), \
            f"{d.name}: labels {sorted(labels)} != {d.labels}"
        seen.add(d)
    assert seen == set(md.METRICS) - PROBE_ONLY, "every defined /metrics family is written from the first scrape"


@pytest.mark.parametrize("result", [
    ProbeResult(ProbeJob("link", CAM), True, values={"loss_ratio": 0.2, "sent": 5.0}),
    ProbeResult(ProbeJob("onvif", CAM), False, "timeout", info={"manufacturer": "m", "model": "x", "firmware": "1"}),
    ProbeResult(ProbeJob("stream", CAM, CAM.streams[0]), True, values={"fps": 24.5}),
    SnmpResult(ProbeJob("snmp", SW), True, values={"uptime_seconds": 12.0},
               ports=(PortReading(2, "p1", True, True, 1e9, True, {"in_octets": 5, "out_errors": 1}),
                      PortReading(3, "p2", True, False, 1e8, False, {"in_octets": 7})),
               poe=(PoeReading("p1", "2", True, 6.5),), pses=(PseReading("1", 120.0, 7.0),)),
], ids=["link", "onvif", "stream", "snmp"])
def test_probe_families_match_their_definitions(result: ProbeResult) -> None:
    found = list(_families(probe_exposition(result, 0.01).decode()))
    assert len(found) >= 4
    for d, type_, help_, labels in found:
        assert (type_, help_) == (d.type, d.help), d.name
        assert labels == set(d.probe_labels), f"{d.name}: /probe labels {sorted(labels)} != {d.probe_labels}"


def test_a_real_probe_answer_matches_its_definitions(served: str) -> None:
    found = {d: (t, h, labels) for d, t, h, labels in
             _families(_get(f"{served}/probe?target=127.0.0.1&module=icmp&count=2&interval=0"))}
    assert md.DEVICE_UP in found and md.LINK_LOSS in found
    for d, (type_, help_, labels) in found.items():
        assert (type_, help_, labels) == (d.type, d.help, set(d.probe_labels)), d.name


_NAME = re.compile(r"(?<!\w)sitescout_[a-z]")


def literal_metric_names(root: Path) -> list[str]:
    """Return `file:line: text` for every string literal (not a docstring) under `root` naming a sitescout_ metric."""
    hits = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "metric_defs.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and _NAME.search(node.value)):
                hits.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    return hits


def test_no_other_module_spells_a_metric_name() -> None:
    assert literal_metric_names(PROBES) == []


def test_the_name_check_finds_a_literal_name(tmp_path: Path) -> None:
    # The check itself: a plain string and an f-string piece are found, a docstring and __meta_ labels are not.
    (tmp_path / "m.py").write_text('"""Writes sitescout_device_up."""\nA = "sitescout_device_up"\n'
                                   'B = f"sitescout_stream_{A}"\nC = "__meta_sitescout_site_latitude"\n',
                                   encoding="utf-8")
    assert [h.split(":")[1] for h in literal_metric_names(tmp_path)] == ["2", "3"]


def test_the_brief_contract_names_are_defined() -> None:
    from test_dashboards import CONTRACT_METRICS  # the brief's names, pinned there for the dashboards too
    assert CONTRACT_METRICS <= set(md.BY_NAME)
