"""The network surfaces (issue #15) as an attacker with every role sees them (docs/security.md, network).

- the REST API: interface names that would break the worker's comma-separated SNMP labels or carry
  control characters are refused (400 naming the field), never stored; bad numbers and types are
  400s, not 500s; a cable from an interface to itself is refused;
- survey proposals: a survey pushed to one site cannot create interfaces or cables on another
  site's devices, and hostile SNMP port names are left out;
- the site page and the worker: HTML in an interface name is escaped; a label the worker cannot
  read as a port number drops SNMP for that device, never every target.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from support import bearer, login
from test_inventory_network import _hd_devices, _ingest, _open_network, snmp_survey
from web_seed import FROZEN_SITE, HD, seed_commune

from sitescout.inventory import auth
from sitescout.inventory.db import Database
from sitescout.inventory.model_accounts import ApiToken
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.models import Device
from sitescout.inventory.network_proposals import surveyed_ports
from sitescout.inventory.workflow import apply_survey_findings
from sitescout.probes.worker.inventory_targets import SNMP_PORT_LABEL, snmp_from_labels, targets_from_groups

DATABASE_BACKENDS = ("sqlite",)

#: Names an editor could give a port that the worker's labels (comma-separated) or a log line would misread.
HOSTILE_NAMES = ("ge-0/0/1,ge-0/0/2", "ge-0/0/1\nsite=x", "eth\t0", "eth0\x1b[31m", "ge\u2028x")


def _switch(database: Database, site_id: int) -> int:
    with database.session() as session:
        return int(session.scalar(select(Device.id).where(Device.site_id == site_id, Device.name == "Switch PoE")))


def test_api_refuses_interface_names_that_break_labels_or_logs(client: Any, database: Any, site_ids: dict[str, int],
                                                               tokens: dict[str, str]) -> None:
    switch = _switch(database, site_ids[HD])
    auth = bearer(tokens["editor"])
    for name in HOSTILE_NAMES:
        made = client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": name}, headers=auth)
        assert made.status_code == 400 and set(made.get_json()["errors"]) == {"name"}, (name, made.text)
    port = client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/1"}, headers=auth).get_json()
    renamed = client.patch(f"/api/v1/interfaces/{port['id']}", json={"name": "a,b"},
                           headers=auth | {"If-Match": '"v1"'})
    assert renamed.status_code == 400 and set(renamed.get_json()["errors"]) == {"name"}, renamed.text
    with database.session() as session:
        assert sorted(session.scalars(select(Interface.name))) == ["ge-0/0/1"]


def test_api_bad_numbers_types_and_self_cables_are_400s(client: Any, database: Any, site_ids: dict[str, int],
                                                        tokens: dict[str, str]) -> None:
    switch = _switch(database, site_ids[HD])
    auth = bearer(tokens["admin"])
    url = f"/api/v1/devices/{switch}/interfaces"
    for body in ({"name": "x" * 10_000}, {"name": "p", "if_index": -1}, {"name": "p", "if_index": 2**63},
                 {"name": "p", "speed_bps": 10**30}, {"name": "p", "speed_bps": 1.5}, {"name": ["p"]},
                 {"name": "p", "poe": "yes"}, {"name": "p", "mac": {"a": 1}}, {"name": None}, ["p"], "p"):
        answer = client.post(url, json=body, headers=auth)
        assert answer.status_code == 400, (body, answer.text)
    port = client.post(url, json={"name": "ge-0/0/1"}, headers=auth).get_json()["id"]
    for ends in ({"a_interface_id": port, "b_interface_id": port}, {"a_interface_id": -1, "b_interface_id": port},
                 {"a_interface_id": str(port), "b_interface_id": port}, {"a_interface_id": 2**70, "b_interface_id": 1}):
        answer = client.post("/api/v1/cables", json=ends, headers=auth)
        assert answer.status_code == 400, (ends, answer.text)
    for query in ("site=-1", "device=abc", "limit=99999999999999999999", "offset=-5"):
        assert client.get(f"/api/v1/cables?{query}", headers=auth).status_code == 400, query
    with database.session() as session:
        assert session.scalar(select(Cable.id)) is None


def test_site_page_escapes_html_in_port_and_peer_names(client: Any, database: Any, site_ids: dict[str, int],
                                                       tokens: dict[str, str]) -> None:
    switch = _switch(database, site_ids[HD])
    auth = bearer(tokens["editor"])
    evil = '<img src=x onerror=alert(1)>"'
    port = client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/1", "description": evil},
                       headers=auth)
    assert port.status_code == 201, port.text
    assert login(client, "viewer", "viewer-password").status_code == 302
    page = client.get(f"/sites/{site_ids[HD]}").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def _frozen_switch(database: Database, site_id: int) -> int:
    with database.session() as session:
        switch = Device(site_id=site_id, kind="switch", name="Switch Nà Khà", ip="198.51.100.77", status="active")
        session.add(switch)
        session.flush()
        return int(switch.id)


def test_a_survey_of_one_site_cannot_write_another_sites_switch(database: Database) -> None:
    sites = seed_commune(database)
    hd, frozen = sites[HD], sites[FROZEN_SITE]
    other = _frozen_switch(database, frozen)
    devices = _hd_devices(database, hd)
    doc = snmp_survey(devices)
    # The pushed document names site B's switch as the SNMP agent the HD cameras hang off, and as an LLDP peer.
    foreign = dict(doc["hosts"][0], ip="198.51.100.77")
    doc["hosts"].append(foreign)
    doc["hosts"][1]["attached_to"]["device"] = "198.51.100.77"
    doc["hosts"][0]["snmp"]["neighbors"][0]["mgmt_address"] = "198.51.100.77"
    _ingest(database, hd, doc)
    found = _open_network(database, hd)
    assert found and all("Switch Nà Khà" not in str(f.params) for f in found)
    with database.session() as session:
        apply_survey_findings(session, hd, found[0].survey_id, actor="cli")
        assert session.scalar(select(Interface.id).where(Interface.device_id == other)) is None
        assert session.scalar(select(Interface.id).where(Interface.device_id == devices["Switch PoE"].id))


def test_surveyed_port_names_with_commas_or_control_characters_are_left_out() -> None:
    snmp = {"interfaces": [{"name": n} for n in HOSTILE_NAMES] + [{"name": "<b>ge-0/0/9</b>"}, {"name": 5},
                                                                  {"name": "ge-0/0/1"}] + [{"name": "x"}] * 5000,
            "uplinks": "not-a-list"}
    names = [p["name"] for p in surveyed_ports(snmp)]
    assert names == ["<b>ge-0/0/9</b>", "5", "ge-0/0/1", "x"]  # HTML is text here; every page escapes it


def test_a_placement_on_a_hostile_port_name_is_not_proposed_and_the_rest_applies(database: Database) -> None:
    hd = seed_commune(database)[HD]
    devices = _hd_devices(database, hd)
    doc = snmp_survey(devices)
    doc["hosts"][1]["attached_to"]["port"] = "ge-0/0/1,ge-0/0/2"  # the worker would watch two ports
    doc["hosts"][2]["attached_to"]["port"] = "ge-0/0/2\nsite=x"
    _ingest(database, hd, doc)
    found = _open_network(database, hd)
    assert "cabled_to" not in {f.code for f in found} and found
    with database.session() as session:
        apply_survey_findings(session, hd, found[0].survey_id, actor="cli")
        names = set(session.scalars(select(Interface.name)))
        assert "ge-0/0/4" in names and not any("," in n or "\n" in n for n in names)


def test_worker_drops_snmp_for_a_port_label_it_cannot_read_and_keeps_every_other_target() -> None:
    for raw in ("²", "١٦١", "0161x", "-1", "65536", " ", 1.5, None, "161\n"):
        snmp = snmp_from_labels({SNMP_PORT_LABEL: raw})
        assert snmp is None or (raw == "161\n" and snmp.port == 161), raw

    def group(n: int, port: str) -> dict[str, Any]:
        return {"targets": [f"127.0.0.{n}"], "labels": {"site": "s", "device": f"sw{n}", "kind": "switch",
                                                         "__meta_sitescout_device_id": str(n), SNMP_PORT_LABEL: port,
                                                         "__meta_sitescout_snmp_uplinks": "a,,b, a"}}
    targets, _ids = targets_from_groups([group(1, "²"), group(2, "1161")])
    assert [(t.device, t.snmp.port if t.snmp else None) for t in targets] == [("sw1", None), ("sw2", 1161)]
    assert targets[1].snmp is not None and targets[1].snmp.uplinks == ("a", "b")


def _legacy_scoped_editor(database: Database, site_id: int) -> str:
    """An editor token scoped to one site, as tokens made before scopes were kept to worker/alertmanager are."""
    secret = "sst_legacy-scoped-editor-token-for-the-network-tests"
    with database.session() as session:
        session.add(ApiToken(token_sha256=auth._sha256(secret), role="editor", label="legacy", sites=[site_id]))
    return secret


def test_a_scoped_token_neither_sees_nor_unplugs_a_cable_to_another_site(client: Any, database: Any,
                                                                       site_ids: dict[str, int],
                                                                       tokens: dict[str, str]) -> None:
    hd, frozen = site_ids[HD], site_ids[FROZEN_SITE]
    other = _frozen_switch(database, frozen)
    admin, scoped = bearer(tokens["admin"]), bearer(_legacy_scoped_editor(database, hd))
    switch = _switch(database, hd)
    mine = client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/8"}, headers=admin).get_json()
    spare = client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": "ge-0/0/7"}, headers=admin).get_json()
    theirs = client.post(f"/api/v1/devices/{other}/interfaces", json={"name": "ge-0/0/1"}, headers=admin).get_json()
    cable = client.post("/api/v1/cables", json={"a_interface_id": mine["id"], "b_interface_id": theirs["id"]},
                        headers=admin)
    assert cable.status_code == 201, cable.text
    # Reading its own port: the far end (another site's switch and port) is not named.
    for answer in (client.get(f"/api/v1/interfaces/{mine['id']}", headers=scoped).get_json(),
                   *client.get(f"/api/v1/devices/{switch}/interfaces", headers=scoped).get_json()["interfaces"]):
        assert answer["peer"] is None or answer["peer"]["device_id"] != other, answer
    assert client.get(f"/api/v1/interfaces/{theirs['id']}", headers=scoped).status_code == 403
    assert client.get(f"/api/v1/cables/{cable.get_json()['id']}", headers=scoped).status_code == 403
    assert client.get("/api/v1/cables", headers=scoped).get_json()["total"] == 0
    # Cabling its own port again: refused without naming where the existing cable goes.
    again = client.post("/api/v1/cables", json={"a_interface_id": mine["id"], "b_interface_id": spare["id"]},
                        headers=scoped)
    assert again.status_code in (403, 409) and "Nà Khà" not in again.text and "ge-0/0/1" not in again.text, again.text
    cross = client.post("/api/v1/cables", json={"a_interface_id": spare["id"], "b_interface_id": theirs["id"]},
                        headers=scoped)
    assert cross.status_code == 403 and cross.get_json()["code"] == "out_of_scope" and "Nà Khà" not in cross.text
    assert client.delete(f"/api/v1/interfaces/{theirs['id']}", headers=scoped | {"If-Match": "*"}).status_code == 403
    # Deleting its own port would unplug the other site's cable: refused, the cable stays.
    gone = client.delete(f"/api/v1/interfaces/{mine['id']}", headers=scoped | {"If-Match": "*"})
    assert gone.status_code == 403, gone.text
    with database.session() as session:
        assert session.get(Cable, cable.get_json()["id"]) is not None


def test_a_name_with_format_strings_is_said_as_text_in_error_answers(client: Any, database: Any,
                                                                     site_ids: dict[str, int],
                                                                     tokens: dict[str, str]) -> None:
    switch = _switch(database, site_ids[HD])
    auth = bearer(tokens["editor"])
    made = [client.post(f"/api/v1/devices/{switch}/interfaces", json={"name": n}, headers=auth).get_json()["id"]
            for n in ("%(cable)s<b>%s", "{0.__class__}", "p3")]
    assert client.post("/api/v1/cables", json={"a_interface_id": made[0], "b_interface_id": made[1]},
                       headers=auth).status_code == 201
    for lang in ("vi", "en"):
        again = client.post("/api/v1/cables", json={"a_interface_id": made[0], "b_interface_id": made[2]},
                            headers=auth | {"Accept-Language": lang})
        body = again.get_json()
        assert again.status_code == 409 and body["code"] == "interface_has_cable", again.text
        assert "%(cable)s<b>%s" in body["error"] and "{0.__class__}" in body["error"], body


def test_the_topology_diagram_escapes_every_name_a_pushed_survey_gives() -> None:
    from topology_support import topology_survey

    from sitescout.inventory.report_topology import render_topology_html

    evil = '"><script>alert(1)</script>'
    doc = topology_survey()
    for host in doc["hosts"]:
        if host["snmp"]:
            host["snmp"]["sys_name"] = f"sw{evil}{host['ip']}"
            host["snmp"]["vendor"] = evil
            for iface in host["snmp"]["interfaces"]:
                iface["name"] += evil
            host["snmp"]["neighbors"] = [n | {"port": n["port"] + evil} for n in host["snmp"]["neighbors"]]
        if host["attached_to"]:
            host["attached_to"]["port"] += evil
        host["device_class"] = {"kind": evil}
        host["vendor"] = evil
    html = render_topology_html(doc, lambda s: s, lambda k: k, lambda n, _f: str(n))
    assert html and "<script>" not in html and "&quot;&gt;&lt;script&gt;" in html


def test_a_pushed_survey_with_odd_snmp_parts_never_fails_the_sites_plan_network(database: Database) -> None:
    from sitescout.inventory.planning.network_facts import network_from_document, site_network

    hd = seed_commune(database)[HD]
    devices = _hd_devices(database, hd)
    doc = snmp_survey(devices)
    snmp = doc["hosts"][0]["snmp"]
    snmp |= {"neighbors": [*snmp["neighbors"], {"mgmt_address": {"a": 1}, "port": ["p"]}, 7], "uplinks": 5}
    doc["hosts"][1]["attached_to"] = {"device": ["x"], "port": {"p": 1}}
    doc["hosts"].append({"ip": "198.51.100.99", "kind": "host", "snmp": {"interfaces": [{"name": "p1"}, 3],
                                                                        "neighbors": 1.5, "uplinks": True}})
    _ingest(database, hd, doc)  # ingestion checks only the fields it stores: the document is kept as pushed
    with database.session() as session:
        net = site_network(session, hd)
    assert net is not None and [s.name for s in net.switches] == ["sw-hd"]
    for hosts in (5, [5, None, {"snmp": {"interfaces": 3}}], [{"ip": {}, "snmp": {"interfaces": [{"name": 1}],
                                                                                    "poe": 1, "neighbors": "x"}}]):
        network_from_document({"hosts": hosts})  # nothing to say, and no failure
