"""Interfaces and cables through /api/v1 (issue #15) and the site page's network section, on the seeded web app.

CRUD with ETag / If-Match (412 stale, 428 missing), 201 + Location, 204, 400 naming the field,
409 for a second cable on an interface (at either end) and for a duplicate name, roles (viewer
reads, editor writes), the change log; devices' ``snmp_port``; the site page in both languages,
and a screenshot of it in headless Chromium when Chromium is installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app
from support import bearer, login
from web_seed import HD

from sitescout.inventory.models import Device

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; test_inventory_network covers PostgreSQL
VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


def _devices(database: Any, site_id: int) -> dict[str, int]:
    with database.session() as session:
        return {d.name: d.id for d in session.query(Device).filter_by(site_id=site_id)}


def _api(client: Any, token: str) -> Any:
    def call(method: str, url: str, *, if_match: str | None = None, **kwargs: Any) -> Any:
        headers = bearer(token) | ({"If-Match": if_match} if if_match is not None else {})
        return getattr(client, method)(url, headers=headers, **kwargs)
    return call


def test_interfaces_and_cables_round_trip(client: Any, database: Any, site_ids: dict[str, int],
                                          tokens: dict[str, str]) -> None:
    api, viewer = _api(client, tokens["editor"]), _api(client, tokens["viewer"])
    devices = _devices(database, site_ids[HD])
    switch, camera = devices["Switch PoE"], devices["Camera cổng"]

    made = api("post", f"/api/v1/devices/{switch}/interfaces",
               json={"name": "ge-0/0/1", "speed_bps": 1_000_000_000, "poe": True, "if_index": 1,
                     "mac": "00-1B-21-00-00-01"})
    assert made.status_code == 201, made.text
    port = made.get_json()
    assert made.headers["Location"].endswith(f"/api/v1/interfaces/{port['id']}") and made.headers["ETag"] == '"v1"'
    assert port | {"id": 0} == {"id": 0, "device_id": switch, "name": "ge-0/0/1", "if_index": 1, "description": "",
                                "kind": "ethernet", "speed_bps": 1_000_000_000, "mac": "00:1b:21:00:00:01",
                                "poe": True, "uplink": False, "enabled": True, "version": 1, "cable_id": None,
                                "peer": None}
    assert api("post", f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/1"}).status_code == 409
    bad = api("post", f"/api/v1/devices/{switch}/interfaces", json={"name": "x", "speed_bps": -1, "kind": "fibre"})
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"speed_bps", "kind"}
    assert api("post", "/api/v1/devices/999999/interfaces", json={"name": "eth0"}).status_code == 404
    uplink = api("post", f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/8"}).get_json()
    eth0 = api("post", f"/api/v1/devices/{camera}/interfaces", json={"name": "eth0"}).get_json()

    url = f"/api/v1/interfaces/{uplink['id']}"
    assert api("patch", url, json={"uplink": True}).status_code == 428
    changed = api("patch", url, json={"uplink": True, "description": "to the router"}, if_match='"v1"')
    assert changed.status_code == 200 and changed.get_json()["uplink"] and changed.headers["ETag"] == '"v2"'
    assert api("patch", url, json={"uplink": False}, if_match='"v1"').status_code == 412  # someone changed it
    assert viewer("patch", url, json={"uplink": False}, if_match="*").status_code == 403
    assert viewer("get", url).get_json()["description"] == "to the router"

    cable = api("post", "/api/v1/cables", json={"a_interface_id": port["id"], "b_interface_id": eth0["id"]})
    assert cable.status_code == 201, cable.text
    body = cable.get_json()
    assert cable.headers["Location"].endswith(f"/api/v1/cables/{body['id']}")
    assert body["status"] == "connected" and body["a"]["device"] == "Switch PoE" and body["b"]["name"] == "eth0"
    # An interface has at most one cable, whichever end it would be.
    for ends in ({"a_interface_id": port["id"], "b_interface_id": uplink["id"]},
                 {"a_interface_id": uplink["id"], "b_interface_id": eth0["id"]}):
        again = api("post", "/api/v1/cables", json=ends)
        assert again.status_code == 409 and again.get_json()["code"] == "interface_has_cable", again.text
        assert "đã có dây cáp" in again.get_json()["error"]  # in the deployment's default language
    assert api("post", "/api/v1/cables", json={"a_interface_id": port["id"],
                                               "b_interface_id": port["id"]}).status_code in (400, 409)
    assert api("post", "/api/v1/cables", json={"a_interface_id": 999999, "b_interface_id": eth0["id"]}
               ).status_code == 400
    assert viewer("post", "/api/v1/cables", json={"a_interface_id": uplink["id"],
                                                  "b_interface_id": eth0["id"]}).status_code == 403

    listed = viewer("get", f"/api/v1/cables?site={site_ids[HD]}").get_json()
    assert listed["total"] == 1 and listed["cables"][0]["id"] == body["id"]
    assert viewer("get", f"/api/v1/cables?device={camera}").get_json()["total"] == 1
    assert viewer("get", f"/api/v1/cables?device={devices['Uplink']}").get_json()["total"] == 0
    assert viewer("get", "/api/v1/cables?site=abc").status_code == 400
    ports = viewer("get", f"/api/v1/devices/{switch}/interfaces?limit=1").get_json()
    assert ports["total"] == 2 and [i["name"] for i in ports["interfaces"]] == ["ge-0/0/1"] and ports["next"]
    assert ports["interfaces"][0]["peer"] == {"interface_id": eth0["id"], "name": "eth0", "device_id": camera,
                                              "device": "Camera cổng"}

    cable_url = f"/api/v1/cables/{body['id']}"
    assert api("get", cable_url).headers["ETag"] == '"v1"'
    assert api("delete", cable_url, if_match='"v7"').status_code == 412
    assert api("delete", cable_url, if_match='"v1"').status_code == 204
    assert api("get", cable_url).status_code == 404
    # Deleting an interface takes its cable with it.
    again = api("post", "/api/v1/cables", json={"a_interface_id": port["id"], "b_interface_id": eth0["id"]})
    assert api("delete", f"/api/v1/interfaces/{eth0['id']}", if_match="*").status_code == 204
    assert api("get", f"/api/v1/cables/{again.get_json()['id']}").status_code == 404
    assert api("get", f"/api/v1/interfaces/{port['id']}").get_json()["cable_id"] is None

    log = api("get", f"/api/v1/changes?site={site_ids[HD]}&limit=50").get_json()["changes"]
    seen = sorted({(c["object_type"], c["action"]) for c in log if c["object_type"] in ("interface", "cable")})
    assert seen == [("cable", "create"), ("cable", "delete"), ("interface", "create"), ("interface", "delete"),
                    ("interface", "update")]


def test_device_snmp_port_is_written_and_read(client: Any, database: Any, site_ids: dict[str, int],
                                              tokens: dict[str, str]) -> None:
    api = _api(client, tokens["editor"])
    made = api("post", "/api/v1/devices", json={"site_id": site_ids[HD], "name": "sw-new", "kind": "switch"})
    assert made.status_code == 201 and made.get_json()["snmp_port"] == 161  # a switch is read on 161 by default
    url = f"/api/v1/devices/{made.get_json()['id']}"
    refused = api("patch", url, json={"snmp_port": 70000}, if_match="*").get_json()
    assert refused["fields"]["snmp_port"]["code"] == "out_of_range"
    assert refused["fields"]["snmp_port"]["params"] == {"least": 1, "most": 65535}
    assert refused["errors"] == {"snmp_port": "Từ 1 đến 65535."}  # the deployment's default language
    assert api("patch", url, json={"snmp_port": None}, if_match="*").get_json()["snmp_port"] is None
    assert api("patch", url, json={"snmp_port": 1161}, if_match="*").get_json()["snmp_port"] == 1161
    quiet = api("post", "/api/v1/devices", json={"site_id": site_ids[HD], "name": "rt-x", "kind": "router",
                                                 "snmp_port": None})
    assert quiet.get_json()["snmp_port"] is None


def _cabled_site(client: Any, database: Any, site_ids: dict[str, int], tokens: dict[str, str]) -> dict[str, int]:
    api = _api(client, tokens["editor"])
    devices = _devices(database, site_ids[HD])
    ports = {}
    for name, extra in (("ge-0/0/1", {"poe": True, "speed_bps": 1_000_000_000}),
                        ("ge-0/0/2", {"poe": True, "speed_bps": 100_000_000, "description": "sân"}),
                        ("ge-0/0/10", {"uplink": True, "speed_bps": 10_000_000_000})):
        ports[name] = api("post", f"/api/v1/devices/{devices['Switch PoE']}/interfaces",
                          json={"name": name, **extra}).get_json()["id"]
    for camera, port in (("Camera cổng", "ge-0/0/1"), ("Camera sân", "ge-0/0/2")):
        own = api("post", f"/api/v1/devices/{devices[camera]}/interfaces", json={"name": "eth0"}).get_json()["id"]
        assert api("post", "/api/v1/cables", json={"a_interface_id": ports[port], "b_interface_id": own}
                   ).status_code == 201
    wan = api("post", f"/api/v1/devices/{devices['Uplink']}/interfaces", json={"name": "ether2"}).get_json()["id"]
    api("post", "/api/v1/cables", json={"a_interface_id": ports["ge-0/0/10"], "b_interface_id": wan,
                                        "status": "planned"})
    return devices


@pytest.mark.parametrize(("headers", "words"), [
    (VI, ("Mạng", "Cổng", "Tốc độ", "Nối cáp tới", "có")),
    (EN, ("Network", "Port", "Speed", "Cabled to", "yes")),
])
def test_site_page_lists_switch_ports_and_what_is_cabled(client: Any, database: Any, site_ids: dict[str, int],
                                                        tokens: dict[str, str], headers: dict[str, str],
                                                        words: tuple[str, ...]) -> None:
    devices = _cabled_site(client, database, site_ids, tokens)
    assert login(client, "viewer", "viewer-password").status_code == 302
    page = client.get(f"/sites/{site_ids[HD]}", headers=headers).get_data(as_text=True)
    section = page.split('id="network"', 1)[1].split("<h2", 1)[0]
    for word in words:
        assert word in section, word
    table = section.split(f'id="ports-{devices["Switch PoE"]}"', 1)[1].split("</table>", 1)[0]
    rows = table.split('data-port="')[1:]
    assert [r.split('"', 1)[0] for r in rows] == ["ge-0/0/1", "ge-0/0/2", "ge-0/0/10"]  # in port order
    assert f'#device-{devices["Camera cổng"]}">Camera cổng</a>' in rows[0] and "1 Gbit/s" in rows[0]
    assert "100 Mbit/s" in rows[1] and "sân" in rows[1]
    assert 'class="port uplink"' in table and "10 Gbit/s" in rows[2] and f'#device-{devices["Uplink"]}">' in rows[2]
    router = section.split(f'id="switch-{devices["Uplink"]}"', 1)[1]
    assert "SNMP 161" in router and "ether2" in router


@pytest.mark.skipif(not have_chromium(), reason="Chromium and chromedriver are not installed")
def test_site_network_section_in_chromium(app: Any, client: Any, database: Any, site_ids: dict[str, int],
                                          tokens: dict[str, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    devices = _cabled_site(client, database, site_ids, tokens)
    shots = Path(os.environ.get("SITESCOUT_SCREENSHOTS", tmp_path))
    with serve_app(app) as base, chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/sites/{site_ids[HD]}#network")
        heading = driver.find_element(By.ID, "network")
        assert heading.text == "Mạng"
        rows = driver.find_elements(By.CSS_SELECTOR, f"#ports-{devices['Switch PoE']} tr.port")
        assert [r.get_attribute("data-port") for r in rows] == ["ge-0/0/1", "ge-0/0/2", "ge-0/0/10"]
        link = rows[0].find_element(By.CSS_SELECTOR, "a.peer")
        assert link.text == "Camera cổng" and link.is_displayed()
        driver.execute_script("arguments[0].scrollIntoView()", heading)
        driver.save_screenshot(str(shots / "site-network-vi.png"))
        link.click()
        assert driver.current_url.endswith(f"#device-{devices['Camera cổng']}")


def test_deleting_a_device_takes_its_interfaces_and_their_cables(client: Any, database: Any,
                                                                 site_ids: dict[str, int],
                                                                 tokens: dict[str, str]) -> None:
    api = _api(client, tokens["editor"])
    devices = _cabled_site(client, database, site_ids, tokens)
    cables = api("get", f"/api/v1/cables?device={devices['Camera cổng']}").get_json()["cables"]
    switch_port = cables[0]["a"]["interface_id"]
    assert api("delete", f"/api/v1/devices/{devices['Camera cổng']}", if_match="*").status_code == 204
    assert api("get", f"/api/v1/cables/{cables[0]['id']}").status_code == 404
    assert api("get", f"/api/v1/interfaces/{cables[0]['b']['interface_id']}").status_code == 404
    assert api("get", f"/api/v1/interfaces/{switch_port}").get_json()["peer"] is None  # the switch keeps its port
    assert api("get", f"/api/v1/cables?site={site_ids[HD]}").get_json()["total"] == 2


def test_site_history_names_interfaces_and_cables(client: Any, database: Any, site_ids: dict[str, int],
                                                  tokens: dict[str, str]) -> None:
    _cabled_site(client, database, site_ids, tokens)
    assert login(client, "editor", "editor-password").status_code == 302
    page = client.get(f"/sites/{site_ids[HD]}", headers=VI).get_data(as_text=True)
    assert "cáp Switch PoE ge-0/0/1 ↔ Camera cổng eth0" in page and "cổng mạng ge-0/0/10" in page
