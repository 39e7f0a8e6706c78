"""The site page's topology graph (web/topology_graph.py, templates/site_topology.html) on the seeded web app.

The demo village site gets a 48-port PoE switch under its router, a second switch cabled to the
first twice (a loop), cameras, its loudspeaker and a device whose name is an HTML/SVG injection;
the latest survey read link state, utilisation and PoE draw. Checked through the Flask test client
in both languages and in headless Chromium (Vietnamese), whose screenshot is kept.
"""

from __future__ import annotations

import html
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from support import login
from web_seed import HD

from sitescout.inventory import store
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.model_survey import Survey
from sitescout.inventory.models import Device, Site
from sitescout.web.topology_graph import PortFacts, observed_ports

DATABASE_BACKENDS = ("sqlite",)
VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
EVIL = '</text><script>alert("topo")</script><text onload="alert(1)">'


def _wire(database: Any, site_id: int) -> dict[str, int]:
    """Give the site a cabled network; return device ids by name."""
    with database.session() as session:
        site = session.get(Site, site_id)
        assert site is not None
        devices = {d.name: d for d in session.query(Device).filter_by(site_id=site_id)}
        other = next(s for s in session.query(Site) if s.id != site_id and s.name.startswith("Nhà văn hóa"))
        evil = Device(site=site, kind="camera", name=EVIL, ip="127.77.2.66")
        yard2 = Device(site=site, kind="switch", name="Switch sân", ip="127.77.2.3")
        ap = Device(site=site, kind="access_point", name="Wi-Fi hội trường", ip="127.77.2.30")
        core = Device(site=other, kind="switch", name="Switch lõi", ip="127.77.3.250")
        session.add_all([evil, yard2, ap, core])
        session.flush()
        devices |= {d.name: d for d in (evil, yard2, ap, core)}
        ports: dict[tuple[str, str], Interface] = {}

        def port(device: str, name: str, **kw: Any) -> Interface:
            iface = Interface(device_id=devices[device].id, name=name, **kw)
            session.add(iface)
            ports[(device, name)] = iface
            return iface

        port("Uplink", "ether1", uplink=True, speed_bps=100_000_000)
        port("Uplink", "ether2", speed_bps=1_000_000_000)
        port("Switch lõi", "ge-1/0/3", speed_bps=1_000_000_000)
        for n in range(1, 49):
            port("Switch PoE", f"ge-0/0/{n}", poe=n <= 24, speed_bps=1_000_000_000, uplink=n == 48, if_index=n)
        port("Switch sân", "p1")
        port("Switch sân", "p2")
        port("Switch sân", "p3", poe=True, speed_bps=100_000_000)
        for name in ("Camera cổng", EVIL, "Loa truyền thanh", "Wi-Fi hội trường"):
            port(name, "eth0")
        session.flush()
        for a, b, status in ((("Uplink", "ether1"), ("Switch lõi", "ge-1/0/3"), "connected"),  # to another site
                             (("Uplink", "ether2"), ("Switch PoE", "ge-0/0/48"), "connected"),
                             (("Switch PoE", "ge-0/0/1"), ("Camera cổng", "eth0"), "connected"),
                             (("Switch PoE", "ge-0/0/2"), (EVIL, "eth0"), "connected"),
                             (("Switch PoE", "ge-0/0/3"), ("Loa truyền thanh", "eth0"), "planned"),
                             (("Switch PoE", "ge-0/0/23"), ("Switch sân", "p1"), "connected"),
                             (("Switch PoE", "ge-0/0/24"), ("Switch sân", "p2"), "connected"),  # a loop
                             (("Switch sân", "p3"), ("Wi-Fi hội trường", "eth0"), "connected")):
            session.add(Cable(a_interface_id=ports[a].id, b_interface_id=ports[b].id, status=status))
        switch_ip = devices["Switch PoE"].ip
        document = {"site": HD, "started_at": "2026-03-02T08:00:00+00:00", "finished_at": "2026-03-02T08:10:00+00:00",
                    "networks": ["127.77.2.0/24"], "hosts": [{"ip": switch_ip, "kind": "host", "snmp": {
                        "credential": "public-1", "sys_name": "Switch PoE", "interfaces": [
                            {"name": "ge-0/0/1", "oper_up": True, "poe": {"power_w": 5.4}},
                            {"name": "ge-0/0/2", "oper_up": False},
                            {"name": "ge-0/0/48", "oper_up": True, "utilisation_pct": 72.4}]}}]}
        session.add(Survey(site_id=site_id, site_name=HD, started_at=datetime(2026, 3, 2, 8, tzinfo=timezone.utc),
                           content_sha256="0" * 64, document=document))
        ids = {name: d.id for name, d in devices.items()} | {"other site": other.id}
        store.record_observations(session, [{"device_id": ids["Camera cổng"], "kind": "stream", "health": "problem",
                                             "observed_at": "2026-03-02T09:00:00+00:00", "values": {"fps": 0.0}}])
        return ids


def _graph(page: str) -> str:
    return page.split('id="topology-graph"', 1)[1].split("</svg>", 1)[0]


@pytest.mark.parametrize(("headers", "words"), [
    (VI, ("Sơ đồ mạng", "Sự cố", "tải cao 72 %", "PoE 5,4 W", "mất tín hiệu", "cáp dự kiến",
          "cổng khác: chưa dùng hoặc mất tín hiệu", "Chưa gắn vào cổng", "(đã vẽ)", "Hệ thống loa")),
    (EN, ("Network diagram", "problem", "high load 72 %", "PoE 5.4 W", "no link", "cable planned",
          "more ports: unused or no link", "Not placed", "already drawn", "loudspeaker")),
])
def test_site_page_draws_the_topology_graph(client: Any, database: Any, site_ids: dict[str, int],
                                            headers: dict[str, str], words: tuple[str, ...]) -> None:
    ids = _wire(database, site_ids[HD])
    assert login(client, "viewer", "viewer-password").status_code == 302
    page = client.get(f"/sites/{site_ids[HD]}", headers=headers).get_data(as_text=True)
    section = page.split('id="network"', 1)[1].split("<h2", 1)[0]
    graph = _graph(section)
    text = html.unescape(re.sub(r"<[^>]+>", " ", section))
    for word in words:
        assert word.lower() in text.lower(), word
    # Each device once, each linking to its row in the device table.
    for name in ("Uplink", "Switch PoE", "Switch sân", "Camera cổng", "Loa truyền thanh", "Wi-Fi hội trường"):
        assert graph.count(f'id="topo-node-{ids[name]}"') == 1, name
        assert f'href="#device-{ids[name]}"' in graph
    # Each box and each port row is named for a screen reader (a <title>), besides its visible text.
    assert graph.count('class="node-link">') == graph.count('class="node-link"><title>') == 8
    port_title = "<title>Cổng " if headers is VI else "<title>Port "
    assert graph.count('<g class="port ') == graph.count(port_title) + 1  # + the line of folded ports
    # Router → switch → switch → access point, in columns left to right.
    xs = {name: float(re.search(rf'id="topo-node-{ids[name]}".*?<rect class="frame" x="([\d.]+)"', graph,
                                re.S).group(1)) for name in ("Uplink", "Switch PoE", "Switch sân", "Wi-Fi hội trường")}
    assert xs["Uplink"] < xs["Switch PoE"] < xs["Switch sân"] < xs["Wi-Fi hội trường"]
    # The router's way out is a row linking to the other site's switch, not a column of its own.
    router = graph.split(f'id="topo-node-{ids["Uplink"]}"', 1)[1].split('id="topo-node-', 1)[0]
    away = f'href="/sites/{ids["other site"]}#device-{ids["Switch lõi"]}"'
    assert away in router and f'id="topo-node-{ids["Switch lõi"]}"' not in graph
    assert "Switch lõi" in html.unescape(router.split(away, 1)[1].split("</a>", 1)[0])
    # 48 ports: the cabled ones and the uplink as rows, the 42 others one line.
    switch = graph.split(f'id="topo-node-{ids["Switch PoE"]}"', 1)[1].split('id="topo-node-', 1)[0]
    assert re.findall(r'data-port="([^"]+)"', switch) == ["ge-0/0/1", "ge-0/0/2", "ge-0/0/3", "ge-0/0/23",
                                                          "ge-0/0/24", "ge-0/0/48"]
    assert re.search(r">42 [^<]*</text>", switch), switch[-400:]
    # The problem is red and said in words; the camera not cabled anywhere is not placed.
    camera = graph.split(f'id="topo-node-{ids["Camera cổng"]}"', 1)[0].rsplit("<g ", 1)[1]
    assert "health-problem" in camera
    assert 'id="topology-unplaced"' in graph and f'id="topo-node-{ids["Camera sân"]}"' in graph
    # The injection is text: no element, no attribute made of it.
    assert "<script>alert" not in page and 'onload="alert' not in page
    assert "&lt;/text&gt;&lt;script&gt;alert(" in graph


def test_a_site_without_switches_says_so(client: Any, database: Any, site_ids: dict[str, int]) -> None:
    frozen = next(sid for name, sid in site_ids.items() if name != HD and "Hướng Đạo" not in name
                  and not _has_network(database, sid))
    assert login(client, "viewer", "viewer-password").status_code == 302
    page = client.get(f"/sites/{frozen}", headers=VI).get_data(as_text=True)
    section = page.split('id="network"', 1)[1].split("<h2", 1)[0]
    assert 'id="topology-empty"' in section and "chưa có switch hay router" in section
    assert "<svg" not in section.split('id="topology"', 1)[1]


def _has_network(database: Any, site_id: int) -> bool:
    with database.session() as session:
        return session.query(Device).filter(Device.site_id == site_id,
                                            Device.kind.in_(("switch", "router"))).count() > 0


@pytest.mark.skipif(not have_chromium(), reason="Chromium and chromedriver are not installed")
def test_topology_graph_in_chromium(app: Any, database: Any, site_ids: dict[str, int], tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    ids = _wire(database, site_ids[HD])
    shots = Path(os.environ.get("SITESCOUT_SCREENSHOTS", tmp_path))
    with serve_app(app) as base, chromium("vi") as driver:
        driver.set_window_size(1400, 800)
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/sites/{site_ids[HD]}#topology")
        graph = wait_until(lambda: driver.find_element(By.ID, "topology-graph"), what="the topology graph")
        assert driver.find_element(By.ID, "topology-heading").text == "Sơ đồ mạng"
        box = graph.rect
        assert box["width"] > 900 and box["height"] > 300, box
        # The injected name is shown as text, and no alert opened (a script would have run by now).
        names = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#topology-graph .name")]
        assert any(n.startswith("</text><script>") for n in names), names
        assert driver.find_elements(By.CSS_SELECTOR, "#topology-graph script") == []
        assert driver.execute_script("return document.querySelectorAll('[onload]').length") == 0
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - raises unless a script opened an alert
        camera = driver.find_element(By.CSS_SELECTOR, f"#topo-node-{ids['Camera cổng']} .sub")
        assert camera.text.startswith("⚠ Sự cố")
        assert driver.execute_script(
            "return getComputedStyle(arguments[0]).stroke",
            driver.find_element(By.CSS_SELECTOR, f"#topo-node-{ids['Camera cổng']} .frame")) == "rgb(176, 0, 24)"
        driver.execute_script("document.getElementById('topology').scrollIntoView()")
        driver.save_screenshot(str(shots / "site-topology-vi.png"))
        graph.screenshot(str(shots / "site-topology-graph-vi.png"))
        link = driver.find_element(By.CSS_SELECTOR, f"#topo-node-{ids['Wi-Fi hội trường']} a.node-link")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        wait_until(lambda: driver.current_url.endswith(f"#device-{ids['Wi-Fi hội trường']}"), what="the device link")


def test_port_facts_come_from_the_newest_survey_with_snmp_and_odd_fields_read_as_absent(
        database: Any, site_ids: dict[str, int]) -> None:
    site_id = site_ids[HD]
    older = {"hosts": [{"ip": "127.77.2.2", "snmp": {"interfaces": [
        {"name": "p1", "oper_up": True, "utilisation_pct": 250, "poe": {"power_w": 6.5}},
        {"name": "p2", "oper_up": "yes", "utilisation_pct": "x", "poe": {"power_w": float("nan")}},
        {"name": "p3", "oper_up": False, "utilisation_pct": -1, "poe": {"power_w": -5}},
        {"name": "p4", "poe": [1, 2]}, {"name": None}, "p5", 7]}},
        {"ip": "127.77.2.9", "snmp": {"interfaces": 12}}, {"ip": {"x": 1}, "snmp": None}, "host", None]}
    newer = {"hosts": [{"ip": "127.77.2.2", "kind": "host"}]}  # no SNMP: the older one still tells
    with database.session() as session:
        for day, document in ((2, older), (3, newer)):
            session.add(Survey(site_id=site_id, site_name=HD, started_at=datetime(2026, 3, day, tzinfo=timezone.utc),
                               content_sha256=f"{day}" * 64, document=document))
        session.flush()
        facts = observed_ports(session, site_id)
    assert facts == {"127.77.2.2": {
        "p1": PortFacts(True, 1.0, 6.5), "p2": PortFacts(None, None, None), "p3": PortFacts(False, None, None),
        "p4": PortFacts(None, None, None)}}
