"""Pure parts of the two reads, duplex, classification and the report's topology diagram (no lab).

The PDF test renders with real WeasyPrint and reads back with poppler's ``pdftotext`` and ``pdftoppm``.
"""

from __future__ import annotations

import copy
import gettext
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from topology_support import topology_survey

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.findings import coded_findings, render_finding
from sitescout.inventory.report_topology import build_topology
from sitescout.inventory.survey_report import Reader, render_survey_html
from sitescout.probes.snmp.detect import AgentProbe, answer_descr, v2c_get
from sitescout.probes.snmp.models import (ArpEntry, CounterRead, DeviceSnapshot, FdbEntry, Interface,
                                          SystemInfo)
from sitescout.probes.snmp.survey_stage import device_class, snmp_field


def _vi() -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=["vi"])


def _with(doc: dict[str, Any], ip: str, port: str, **values: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    host = next(h for h in doc["hosts"] if h["ip"] == ip)
    next(i for i in host["snmp"]["interfaces"] if i["name"] == port).update(values)
    host["snmp"]["counters_interval_s"] = 7.1
    return doc


def _found(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in coded_findings(doc):
        out.setdefault(f.code, []).append(f.params | {"host": f.host})
    return out


def test_busy_uplink_only_above_the_limit_and_only_on_uplinks() -> None:
    doc = topology_survey()
    assert "uplink_busy" not in _found(_with(doc, "198.51.100.3", "up2", utilisation_pct=70.0))
    found = _found(_with(doc, "198.51.100.3", "up2", utilisation_pct=83.4))["uplink_busy"]
    assert found == [{"switch": "sw1", "port": "up2", "busy": 0.834, "limit": 0.7, "seconds": 7.1,
                      "host": "198.51.100.3"}]
    assert "uplink_busy" not in _found(_with(doc, "198.51.100.3", "p1", utilisation_pct=99.0))  # a camera port
    text, _rec = render_finding(next(f for f in coded_findings(_with(doc, "198.51.100.3", "up2", utilisation_pct=83.4))
                                     if f.code == "uplink_busy"), _vi().gettext, "vi")
    assert text == "sw1: cổng uplink up2 bận: 83% tốc độ trong 7,1 giây (ngưỡng 70%)"


def test_rising_errors_on_a_camera_port_belong_to_the_camera() -> None:
    doc = _with(topology_survey(), "198.51.100.3", "p2", errors_new=5)
    assert _found(doc)["port_errors_rising"] == [{"switch": "sw1", "port": "p2", "errors": 5, "seconds": 7.1,
                                                  "host": "198.51.100.11"}]
    quiet = _with(topology_survey(), "198.51.100.3", "p4", errors_new=5)  # nothing watched on p4
    assert "port_errors_rising" not in _found(quiet)


@pytest.mark.parametrize(("values", "flapped"), [
    ({"last_change_s_ago": 120.0, "last_change_uptime_s": 86_000.0}, True),
    ({"last_change_s_ago": 899.0, "last_change_uptime_s": 61.0}, True),
    ({"last_change_s_ago": 1000.0, "last_change_uptime_s": 86_000.0}, False),  # older than the window
    ({"last_change_s_ago": 30.0, "last_change_uptime_s": 20.0}, False),  # the port came up at boot
    ({"last_change_s_ago": 30.0, "last_change_uptime_s": 500.0, "oper_up": False}, False),  # down: not a flap
    ({"last_change_s_ago": None, "last_change_uptime_s": None}, False),  # unchanged since the agent started
])
def test_flap_rule(values: dict[str, Any], flapped: bool) -> None:
    found = _found(_with(topology_survey(), "198.51.100.3", "p1", **values))
    assert ("port_flapped" in found) is flapped
    if flapped:
        assert found["port_flapped"][0]["host"] == "198.51.100.10"


def test_half_duplex_port_and_the_mismatched_link() -> None:
    doc = _with(topology_survey(), "198.51.100.3", "up2", duplex="half")
    doc = _with(doc, "198.51.100.4", "up1", duplex="full")
    found = _found(doc)
    assert found["duplex_half"] == [{"switch": "sw1", "port": "up2", "host": "198.51.100.3"}]
    assert len(found["duplex_mismatch"]) == 1  # one link, seen from both ends, is one finding
    mismatch = found["duplex_mismatch"][0]
    assert {(mismatch["switch"], mismatch["port"], mismatch["duplex"]),
            (mismatch["far_switch"], mismatch["far_port"], mismatch["far_duplex"])} == \
        {("sw1", "up2", "half"), ("sw2", "up1", "full")}
    both_full = _with(_with(topology_survey(), "198.51.100.3", "up2", duplex="full"), "198.51.100.4", "up1",
                      duplex="full")
    assert not {"duplex_half", "duplex_mismatch"} & set(_found(both_full))


def _snap(**kw: Any) -> DeviceSnapshot:
    snap = DeviceSnapshot("10.0.0.5", credential="v2c")
    for key, value in kw.items():
        setattr(snap, key, value)
    return snap


def test_classification_from_forwarding_table_words_and_arp() -> None:
    up = {i: Interface(i, name=f"eth{i}", oper_up=True) for i in (2, 3)}
    assert device_class(_snap(fdb=[FdbEntry("aa:bb:cc:dd:ee:ff", 1, 2, "p1")]), None) == ("switch", "fdb")
    assert device_class(_snap(fdb=[FdbEntry("aa:bb:cc:dd:ee:ff", 1, 2, "p1", is_self=True)]), None) == (None, None)
    assert device_class(_snap(system=SystemInfo(sys_descr="IP Paging Receiver v2")), None)[0] == "loudspeaker"
    assert device_class(_snap(system=SystemInfo(sys_descr="RouterOS RB750Gr3")), None)[0] == "router"
    assert device_class(_snap(interfaces=up, arp=[ArpEntry("10.0.0.1", "a", 2), ArpEntry("10.1.0.1", "b", 3)]),
                        None) == ("router", "arp")
    assert device_class(_snap(interfaces=up, arp=[ArpEntry("10.0.0.1", "a", 2)]), None) == (None, None)
    # an agent we could not read, but whose default community told its sysDescr
    probe = AgentProbe("10.0.0.5", default_communities=["public"], sys_descr="Network Speaker NS-20")
    assert device_class(DeviceSnapshot("10.0.0.5"), probe) == ("loudspeaker", "sys_descr")


def test_default_community_answer_gives_its_sysdescr() -> None:
    # a GetResponse built from our own request: the second varbind's NULL becomes an OCTET STRING
    request = bytearray(v2c_get("public", 9))
    request[request.index(0xA0)] = 0xA2
    text = b"IP paging receiver\x07 PR-100"
    null = bytes(request).rindex(b"\x05\x00")
    body = bytes(request[:null]) + bytes([0x04, len(text)]) + text
    grow = len(text)

    def fix(data: bytes) -> bytes:  # the three enclosing lengths grow by the string's length
        out = bytearray(data)
        for at in (1, out.index(0xA2) + 1):
            out[at] += grow
        vb_list = out.index(0x30, out.index(0xA2) + 2 + 3 * 3)
        out[vb_list + 1] += grow
        second_vb = out.index(0x30, vb_list + 2 + out[vb_list + 3] + 2)
        out[second_vb + 1] += grow
        return bytes(out)

    assert answer_descr(fix(body)) == "IP paging receiver PR-100"  # the control character is dropped
    assert answer_descr(b"\x30\x03\x02\x01\x01") is None


def test_utilisation_errors_and_last_change_from_two_reads() -> None:
    iface = Interface(4, name="up2", speed_bps=10_000_000, oper_up=True, in_octets=1_000, out_octets=5_000,
                      in_errors=3, out_errors=0)
    snap = _snap(interfaces={4: iface}, fdb=[FdbEntry("aa:bb:cc:dd:ee:ff", 1, 4, "up2")])
    # 7 s later: 7 MB out in 7 s = 8 Mbit/s of 10; 2 new errors; the port changed 30 s before, at uptime 900 s
    snap.counters = CounterRead(7.0, 93_000, {4: (2_000, 7_005_000, 5, 0, 90_000)})
    port = snmp_field(snap, set(), None)["interfaces"][0]
    assert port["utilisation_pct"] == 80.0 and port["errors_new"] == 2
    assert port["last_change_s_ago"] == 30.0 and port["last_change_uptime_s"] == 900.0
    snap.counters = CounterRead(7.0, 93_000, {4: (500, None, 1, None, 0)})  # went back (a reset): no figures
    port = snmp_field(snap, set(), None)["interfaces"][0]
    assert port["utilisation_pct"] is None and port["errors_new"] is None and port["last_change_s_ago"] is None


def test_topology_tree_from_the_document() -> None:
    topo = build_topology(topology_survey())
    assert topo.roots[0] == "198.51.100.1" and topo.nodes["198.51.100.1"].kind == "router"
    sw1 = topo.nodes["198.51.100.3"]
    assert sw1.ports["up2"].links == [("198.51.100.4", "up1")]
    assert sorted(sw1.ports["p5"].links) == [("198.51.100.1", "eth0")]
    assert sw1.ports["p1"].devices == ["198.51.100.10"] and sw1.ports["p5"].devices == []  # the router is a link
    assert topo.unplaced == ["198.51.100.50"]
    assert build_topology({"hosts": [None, {"ip": None}, {"ip": "x", "snmp": "odd", "attached_to": 3}]}).empty


def test_device_text_is_escaped_in_the_diagram() -> None:
    doc = topology_survey()
    doc["hosts"][1]["snmp"]["sys_name"] = "<script>alert(1)</script>"
    html = render_survey_html(doc, Reader())
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (tests/run.sh)")
def test_vietnamese_pdf_diagram_is_text_inside_the_page(tmp_path: Path) -> None:
    from sitescout.web.pdf import html_to_pdf

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(html_to_pdf(render_survey_html(topology_survey(), Reader(_vi().gettext, "vi"))))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    section = text[text.index("Sơ đồ mạng"):text.index("Không thấy trên cổng switch nào")]
    lines = [line.split() for line in section.splitlines() if line.split()]
    assert lines[1][:3] == ["rt1", "·", "198.51.100.1"]
    for ip, port in (("198.51.100.10", "p1"), ("198.51.100.11", "p2"), ("203.0.113.10", "p3"),
                     ("198.51.100.12", "p1"), ("198.51.100.100", "p2")):
        at = next(i for i, words in enumerate(lines) if words[0] == ip)
        assert lines[at - 1][0] == port, (ip, lines[at - 1])
    assert "bộ thu loa" in section and "PoE 6,5 W" in section and "cổng uplink" in section
    assert re.search(r"up1\s+sw2\s+·\s+198\.51\.100\.4", section)
    # nothing runs into the side margins (12 mm at 50 dpi ≈ 23 px; the outer 20 px stay white)
    subprocess.run(["pdftoppm", "-r", "50", "-gray", str(pdf), str(tmp_path / "page")], check=True)
    for page in sorted(tmp_path.glob("page-*.pgm")):
        data = page.read_bytes()
        width, height, pixels = re.match(rb"P5\s+(\d+)\s+(\d+)\s+\d+\s(.*)", data, re.S).groups()
        w, h = int(width), int(height)
        for y in range(h):
            row = pixels[y * w:(y + 1) * w]
            assert min(row[:20]) >= 200 and min(row[w - 20:]) >= 200, (page.name, y)


def test_sip_options_roundtrip_with_the_lab_responder_on_loopback() -> None:
    import asyncio
    import socket
    import sys

    from sitescout.probes.net.sip import async_sip_options, parse_response

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sitescout.infra.lab.sip_responder", "--ip", "127.0.0.1",
                             "--port", str(port), "--agent", "Paging Speaker\x1b[31m X1", "--for", "30"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        found = asyncio.run(async_sip_options(["127.0.0.1"], port=port, wait_s=0.5))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert found["127.0.0.1"].status == 200
    assert found["127.0.0.1"].agent == "Paging Speaker[31m X1"  # the escape character is dropped
    assert parse_response(b"HTTP/1.1 200 OK\r\nCall-ID: x\r\n\r\n") is None
    assert parse_response(b"SIP/2.0 200 OK\r\n\r\n") is None  # no Call-ID: not an answer to us


def test_a_loop_and_a_long_chain_of_switches_are_drawn_once_each() -> None:
    from topology_support import chain_survey

    from sitescout.inventory.report_topology import MAX_DEPTH

    html = render_survey_html(chain_survey(MAX_DEPTH * 3, loop=True), Reader())
    for n in range(MAX_DEPTH * 3):  # every switch's box once: nested up to MAX_DEPTH, then a tree of its own
        assert html.count(f'<b>sw{n}</b> · <b class="addr">10.0.{n // 250}.{n % 250 + 1}</b> · ') == 1, n
    depth = deepest = 0
    for tag in re.findall(r"<ul class=\"topo\">|</ul>", html):
        depth += 1 if tag.startswith("<ul") else -1
        deepest = max(deepest, depth)
    assert MAX_DEPTH * 2 <= deepest <= MAX_DEPTH * 2 + 2  # a port list and a link list per level, then cut
