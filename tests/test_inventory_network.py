"""Interfaces and cables in the inventory (issue #15): migration 0011, survey proposals applied, targets' SNMP labels.

The survey document is the shape docs/survey.md "SNMP" gives (``snmp`` on the switch's host record,
``attached_to`` on each host the survey placed on a port), for the demo village site's switch and
cameras; the inventory is the seeded demo commune.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gettext
import json
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text
from web_seed import HD, seed_commune

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory import store
from sitescout.inventory.changes import list_changes
from sitescout.inventory.db import MIGRATIONS_DIR, Database
from sitescout.inventory.findings import CodedFinding, render_finding
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.models import Device
from sitescout.inventory.network import site_network
from sitescout.inventory.workflow import apply_site_finding, apply_survey_findings, site_findings

NETWORK_CODES = {"interfaces_found", "port_uplink", "cabled_to", "port_taken", "cable_moved", "lldp_link"}


def _alembic(database: Database) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = database.engine
    return config


def _hd_devices(database: Database, site_id: int) -> dict[str, Device]:
    with database.session() as session:
        return {d.name: d for d in session.scalars(select(Device).where(Device.site_id == site_id))}


def _port(name: str, if_index: int, **kw: Any) -> dict[str, Any]:
    return {"if_index": if_index, "name": name, "alias": None, "mac": f"00:1b:21:00:00:{if_index:02x}",
            "speed_bps": 1_000_000_000, "admin_up": True, "oper_up": True, "in_errors": 0, "out_errors": 0,
            "uplink": False, "poe": {"enabled": True, "delivering": True, "class": 3, "power_w": 4.2}} | kw


def snmp_survey(devices: dict[str, Device], *, started: str = "2026-12-01T08:00:00+00:00") -> dict[str, Any]:
    """A survey of the HD site: its switch read over SNMP (4 ports, ge-0/0/4 the uplink), its cameras placed."""
    switch, gate, yard = devices["Switch PoE"].ip, devices["Camera cổng"].ip, devices["Camera sân"].ip
    snmp = {"credential": "v2c", "sys_name": "sw-hd", "sys_descr": "HPE 2530-8G-PoE+", "default_communities": [],
            "interfaces": [_port("ge-0/0/1", 1), _port("ge-0/0/2", 2, alias="camera san"),
                           _port("ge-0/0/3", 3, speed_bps=100_000_000, poe=None),
                           _port("ge-0/0/4", 4, uplink=True, poe=None), _port("", 5), {"name": None}],
            "uplinks": ["ge-0/0/4"], "fdb_entries": 9, "error_kind": None, "error": None, "credentials_tried": 1,
            "neighbors": [{"port": "ge-0/0/4", "sys_name": "rt-hd", "chassis_id": "00:1b:21:00:00:99",
                           "port_id": "ether2", "port_desc": "ether2", "mgmt_address": devices["Uplink"].ip}],
            "poe": {"budget_w": 60, "used_w": 8.4, "free_w": 51.6, "threshold_pct": 80}}

    def host(ip: str | None, kind: str, **extra: Any) -> dict[str, Any]:
        return {"ip": ip, "kind": kind, "open_ports": [], "errors": [], "vendor": "HPE" if kind == "host" else None,
                "link": {"sent": 5, "received": 5, "loss_ratio": 0.0, "jitter_ms": 0.1}} | extra

    return {"site": HD, "started_at": started, "finished_at": started, "networks": [f"{switch}/24"], "hosts": [
        host(switch, "host", snmp=snmp),
        host(gate, "camera", attached_to={"device": switch, "port": "ge-0/0/1", "switch": "sw-hd", "vlan": 10,
                                          "lldp_confirmed": False}),
        host(yard, "camera", attached_to={"device": switch, "port": "ge-0/0/2", "switch": "sw-hd", "vlan": 10,
                                          "lldp_confirmed": True}),
        host(devices["Uplink"].ip, "host"),
        host(devices["Loa truyền thanh"].ip, "host"),
    ]}


def _ingest(database: Database, site_id: int, doc: dict[str, Any]) -> None:
    with database.session() as session:
        store.ingest_survey(session, doc, site_id=site_id)


def _open_network(database: Database, site_id: int) -> list[Any]:
    with database.session() as session:
        return [f for f in site_findings(session, site_id, status="open") if f.code in NETWORK_CODES]


# ---------------------------------------------------------------------------
# Migration 0011.


def test_0011_down_and_up_keeps_every_device_and_gives_switches_and_routers_snmp_port_161(database: Database) -> None:
    seed_commune(database)
    config = _alembic(database)
    with database.engine.connect() as conn:
        devices_before = conn.execute(text("SELECT count(*) FROM devices")).scalar()
        cameras_before = conn.execute(text("SELECT count(*) FROM camera_details")).scalar()
    command.downgrade(config, "0010_scale")
    names = inspect(database.engine).get_table_names()
    assert "interfaces" not in names and "cables" not in names
    assert "snmp_port" not in {c["name"] for c in inspect(database.engine).get_columns("devices")}
    with database.engine.connect() as conn:  # no batch copy of `devices`: nothing cascaded away
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == devices_before
        assert conn.execute(text("SELECT count(*) FROM camera_details")).scalar() == cameras_before
    command.upgrade(config, "head")
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == devices_before
        by_kind: dict[str, set[int | None]] = {}
        for kind, port in conn.execute(text("SELECT kind, snmp_port FROM devices")):
            by_kind.setdefault(kind, set()).add(port)
    assert by_kind["switch"] == {161} and by_kind["router"] == {161}
    assert by_kind["camera"] == {None} and by_kind["loudspeaker"] == {None}


def test_new_switch_gets_161_unless_it_says_otherwise(database: Database) -> None:
    site_ids = seed_commune(database)
    with database.session() as session:
        session.add_all([Device(site_id=site_ids[HD], kind="switch", name="sw-a"),
                         Device(site_id=site_ids[HD], kind="switch", name="sw-b", snmp_port=None),
                         Device(site_id=site_ids[HD], kind="router", name="rt-c", snmp_port=1161),
                         Device(site_id=site_ids[HD], kind="camera", name="cam-d", status="planned")])
    with database.session() as session:
        got = {d.name: d.snmp_port for d in session.scalars(select(Device).where(Device.name.in_(
            ["sw-a", "sw-b", "rt-c", "cam-d"])))}
    assert got == {"sw-a": 161, "sw-b": None, "rt-c": 1161, "cam-d": None}


# ---------------------------------------------------------------------------
# Survey proposals.


def test_survey_proposes_ports_uplink_and_cables_and_applying_records_them(database: Database) -> None:
    site_ids = seed_commune(database)
    hd = site_ids[HD]
    devices = _hd_devices(database, hd)
    _ingest(database, hd, snmp_survey(devices))
    found = _open_network(database, hd)
    by_code: dict[str, list[Any]] = {}
    for f in found:
        by_code.setdefault(f.code, []).append(f)
    assert sorted(by_code) == ["cabled_to", "interfaces_found", "port_uplink"]
    (ports,) = by_code["interfaces_found"]
    assert ports.params == {"switch": "Switch PoE", "count": 4, "new": 4, "changed": 0}  # nameless ports left out
    (uplink,) = by_code["port_uplink"]
    assert uplink.params == {"switch": "Switch PoE", "port": "ge-0/0/4", "neighbor": "rt-hd"}
    assert sorted((f.params["device"], f.params["port"]) for f in by_code["cabled_to"]) == [
        ("Camera cổng", "ge-0/0/1"), ("Camera sân", "ge-0/0/2")]
    assert all(f.applicable for f in found)
    with database.session() as session:  # nothing written before a person applies
        assert session.scalar(select(Interface.id)) is None

    with database.session() as session:
        survey_id = found[0].survey_id
        applied, refused = apply_survey_findings(session, hd, survey_id, actor="user:editor")
    assert not refused
    assert {f.code for f in applied} >= {"interfaces_found", "port_uplink", "cabled_to"}
    assert _open_network(database, hd) == []  # the inventory now says what the survey says

    with database.session() as session:
        switch = next(s for s in site_network(session, hd) if s.name == "Switch PoE")
        ports_by_name = {p.name: p for p in switch.ports}
        assert list(ports_by_name) == ["ge-0/0/1", "ge-0/0/2", "ge-0/0/3", "ge-0/0/4"]
        assert ports_by_name["ge-0/0/1"].peer_device == "Camera cổng" and ports_by_name["ge-0/0/1"].peer_port == "eth0"
        assert ports_by_name["ge-0/0/2"].peer_device == "Camera sân"
        assert ports_by_name["ge-0/0/2"].description == "camera san"
        assert ports_by_name["ge-0/0/3"].speed_bps == 100_000_000 and not ports_by_name["ge-0/0/3"].poe
        assert ports_by_name["ge-0/0/1"].poe and ports_by_name["ge-0/0/4"].uplink
        assert not ports_by_name["ge-0/0/1"].uplink and ports_by_name["ge-0/0/3"].peer_device == ""
        iface = session.scalar(select(Interface).where(Interface.name == "ge-0/0/1"))
        assert iface.if_index == 1 and iface.mac == "00:1b:21:00:00:01" and iface.kind == "ethernet"
        assert session.query(Cable).count() == 2
        logged, _ = list_changes(session, site_id=hd)
    kinds = [(c.object_type, c.action) for c in logged]
    assert kinds.count(("interface", "create")) == 6  # 4 switch ports + each camera's eth0
    assert kinds.count(("cable", "create")) == 2 and ("interface", "update") in kinds  # the uplink marked
    assert all(c.actor == "user:editor" for c in logged if c.object_type in ("interface", "cable"))


def test_a_proposal_that_contradicts_the_inventory_says_so_and_applying_replaces_the_cable(database: Database) -> None:
    site_ids = seed_commune(database)
    hd = site_ids[HD]
    devices = _hd_devices(database, hd)
    with database.session() as session:  # the inventory: the loudspeaker on ge-0/0/1, Camera sân on ge-0/0/8
        switch = session.get(Device, devices["Switch PoE"].id)
        p1, p8 = Interface(name="ge-0/0/1"), Interface(name="ge-0/0/8")
        switch.interfaces.extend([p1, p8])
        speaker, yard = Interface(name="eth0"), Interface(name="lan")
        owners = [session.get(Device, devices[name].id) for name in ("Loa truyền thanh", "Camera sân")]
        owners[0].interfaces.append(speaker)
        owners[1].interfaces.append(yard)
        session.flush()
        session.add_all([Cable(a_interface_id=p1.id, b_interface_id=speaker.id),
                         Cable(a_interface_id=p8.id, b_interface_id=yard.id)])
    _ingest(database, hd, snmp_survey(devices))
    found = {f.code: f for f in _open_network(database, hd) if f.code in ("port_taken", "cable_moved")}
    assert found["port_taken"].params == {"device": "Camera cổng", "switch": "Switch PoE", "port": "ge-0/0/1",
                                          "other": "Loa truyền thanh"}
    assert found["port_taken"].severity == "warning"
    assert found["cable_moved"].params == {"device": "Camera sân", "switch": "Switch PoE", "port": "ge-0/0/2",
                                           "old_switch": "Switch PoE", "old_port": "ge-0/0/8"}
    english = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=["en"])
    vietnamese = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=["vi"])
    assert render_finding(found["port_taken"].coded(), english.gettext)[0] == (
        "Camera cổng is cabled to Switch PoE port ge-0/0/1, but the inventory has Loa truyền thanh on that port")
    assert render_finding(found["cable_moved"].coded(), vietnamese.gettext, "vi")[0] == (
        "Camera sân hiện nối cáp vào cổng ge-0/0/2 của Switch PoE; danh mục ghi ở cổng ge-0/0/8 của Switch PoE")
    for f in found.values():
        with database.session() as session:
            apply_site_finding(session, hd, f.id, actor="user:editor")
    with database.session() as session:
        (switch_view,) = [s for s in site_network(session, hd) if s.name == "Switch PoE"]
        peers = {p.name: (p.peer_device, p.peer_port) for p in switch_view.ports}
        logged, _ = list_changes(session, site_id=hd, object_type="cable")
    # ge-0/0/2 was created by applying the cable (the port proposal was not applied): the camera's own "lan" is used
    assert peers == {"ge-0/0/1": ("Camera cổng", "eth0"), "ge-0/0/2": ("Camera sân", "lan"), "ge-0/0/8": ("", "")}
    assert sorted(c.action for c in logged) == ["create", "create", "delete", "delete"]


def test_proposals_need_devices_the_survey_matched_and_read_bad_fields_leniently(database: Database) -> None:
    site_ids = seed_commune(database)
    hd = site_ids[HD]
    devices = _hd_devices(database, hd)
    doc = snmp_survey(devices)
    doc["hosts"][0]["snmp"]["interfaces"] += [{"name": "x" * 65}, {"name": "ge-0/0/9", "speed_bps": -5,
                                                                     "if_index": "7", "mac": "not-a-mac"}, "junk"]
    doc["hosts"][1]["attached_to"] = {"device": "198.51.100.250", "port": "ge-0/0/1"}  # no such switch surveyed
    doc["hosts"][2]["attached_to"] = "ge-0/0/2"
    _ingest(database, hd, doc)
    found = _open_network(database, hd)
    assert sorted(f.code for f in found) == ["interfaces_found", "port_uplink"]
    with database.session() as session:
        apply_survey_findings(session, hd, found[0].survey_id, actor="cli")
        odd = session.scalar(select(Interface).where(Interface.name == "ge-0/0/9"))
        assert (odd.speed_bps, odd.if_index, odd.mac) == (None, None, None)
        assert session.scalar(select(Interface).where(Interface.name == "x" * 65)) is None


# ---------------------------------------------------------------------------
# The worker's targets: SNMP port and uplinks of switches and routers.


def _new_interface(session: Any, device: Device, name: str) -> int:
    iface = Interface(name=name)
    device.interfaces.append(iface)
    session.flush()
    return iface.id


def test_targets_carry_snmp_port_and_sorted_uplinks_for_switches_and_routers(database: Database) -> None:
    site_ids = seed_commune(database)
    hd = site_ids[HD]
    devices = _hd_devices(database, hd)
    with database.session() as session:
        switch = session.get(Device, devices["Switch PoE"].id)
        switch.interfaces.extend([Interface(name="up2", uplink=True), Interface(name="ge-0/0/1"),
                                  Interface(name="up1", uplink=True)])
        router, camera = session.get(Device, devices["Uplink"].id), session.get(Device, devices["Camera cổng"].id)
        router.snmp_port = None  # the router is not read over SNMP
        camera.interfaces.append(Interface(name="eth0", uplink=True))  # a camera's "uplink" is no SNMP setting
        session.flush()
        port = next(i for i in switch.interfaces if i.name == "ge-0/0/1")
        session.add(Cable(a_interface_id=camera.interfaces[0].id, b_interface_id=port.id))  # camera on ge-0/0/1
        session.add(Cable(a_interface_id=next(i for i in switch.interfaces if i.name == "up1").id,
                          b_interface_id=_new_interface(session, router, "ether1")))  # no camera port
    with database.session() as session:
        groups = json.loads(store.prometheus_targets_json(session, sites=[hd]))
    labels = {g["labels"]["device"]: g["labels"] for g in groups}
    assert labels["Switch PoE"]["__meta_sitescout_snmp_port"] == "161"
    assert labels["Switch PoE"]["__meta_sitescout_snmp_uplinks"] == "up1,up2"
    assert labels["Uplink"]["__meta_sitescout_snmp_port"] == ""
    assert labels["Uplink"]["__meta_sitescout_snmp_uplinks"] == ""
    assert labels["Switch PoE"]["__meta_sitescout_snmp_camera_ports"] == "ge-0/0/1"
    assert labels["Uplink"]["__meta_sitescout_snmp_camera_ports"] == ""
    for name in ("Camera cổng", "Camera sân", "Loa truyền thanh"):
        assert not any(k.startswith("__meta_sitescout_snmp") for k in labels[name]), name


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_network_proposals_render_in_both_languages(database: Database, lang: str) -> None:
    site_ids = seed_commune(database)
    hd = site_ids[HD]
    _ingest(database, hd, snmp_survey(_hd_devices(database, hd)))
    translation = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang])
    texts = {f.code: render_finding(f.coded(), translation.gettext, lang) for f in _open_network(database, hd)}
    if lang == "vi":
        assert texts["interfaces_found"][0] == ("Switch PoE: 4 cổng chưa có trong danh mục và 0 cổng khác danh mục, "
                                                "trên tổng 4 cổng đọc qua SNMP")
        assert texts["port_uplink"][0] == "cổng ge-0/0/4 của Switch PoE là cổng uplink (láng giềng LLDP: rt-hd)"
    else:
        assert texts["port_uplink"][0] == "Switch PoE port ge-0/0/4 is an uplink (LLDP neighbour: rt-hd)"
        assert texts["interfaces_found"][1] == "apply it to record the switch's ports in the inventory"
    link = CodedFinding("lldp_link", "info", "198.51.100.3",
                        {"switch": "sw1", "port": "up2", "device": "sw2", "device_port": "up1"})
    texts["lldp_link"] = render_finding(link, translation.gettext, lang)
    assert texts["lldp_link"][0] == ("cổng up2 của sw1 được nối cáp tới cổng up1 của sw2 (LLDP)" if lang == "vi"
                                     else "sw1 port up2 is cabled to sw2 port up1 (LLDP)")
    for sentence, advice in texts.values():
        assert "{" not in sentence and advice
