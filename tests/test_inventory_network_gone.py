"""Interfaces a switch no longer reports: proposed for removal with their cables, never deleted silently (issue #15).

A survey whose SNMP read listed every interface of the switch (``snmp.interfaces_complete``) proposes removing the
inventory's other interfaces of that switch (``interfaces_gone``, ``interfaces_gone_cabled``); applying deletes them
and their cables (logged), dismissing keeps them.  A read that ended in an error or at a row cap proposes nothing.
The last test reads the lab's sw1 for real (a full read, one cut at the row cap, one out of time) and feeds each
``snmp`` field to the inventory.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gettext
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from web_seed import HD, seed_commune

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory import store
from sitescout.inventory.changes import list_changes
from sitescout.inventory.db import Database
from sitescout.inventory.findings import render_finding
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.models import Device
from sitescout.inventory.workflow import apply_site_finding, dismiss_site_finding, site_findings

GONE = ("interfaces_gone", "interfaces_gone_cabled")


def _devices(database: Database, site_id: int) -> dict[str, Device]:
    with database.session() as session:
        return {d.name: d for d in session.scalars(select(Device).where(Device.site_id == site_id))}


def _port(name: str, if_index: int) -> dict[str, Any]:
    return {"if_index": if_index, "name": name, "alias": None, "mac": None, "speed_bps": 1_000_000_000,
            "admin_up": True, "oper_up": True, "uplink": False, "poe": None}


def _snmp(complete: bool | None = True, **kw: Any) -> dict[str, Any]:
    field: dict[str, Any] = {
        "credential": "v2c", "sys_name": "sw-hd", "default_communities": [], "uplinks": [], "neighbors": [],
        "interfaces": [_port(f"ge-0/0/{i}", i) for i in range(1, 5)] + [{"name": "bad,name"}],
        "fdb_entries": 0, "truncated": [], "error_kind": None, "error": None}
    if complete is not None:
        field["interfaces_complete"] = complete
    return field | kw


def _doc(devices: dict[str, Device], snmp: dict[str, Any], started: str = "2026-12-01T08:00:00+00:00"
         ) -> dict[str, Any]:
    switch = devices["Switch PoE"].ip
    return {"site": HD, "started_at": started, "finished_at": started, "networks": [f"{switch}/24"], "hosts": [
        {"ip": switch, "kind": "host", "open_ports": [], "errors": [], "vendor": "HPE", "snmp": snmp,
         "link": {"sent": 5, "received": 5, "loss_ratio": 0.0, "jitter_ms": 0.1}}]}


def _inventory_ports(database: Database, devices: dict[str, Device]) -> None:
    """The switch in the inventory: ge-0/0/1..4 as surveyed, ge-0/0/7 cabled to the loudspeaker, ge-0/0/8 free,
    and "bad,name" (listed by the survey, though no proposal could create it: kept, as a port the switch has)."""
    with database.session() as session:
        switch = session.get(Device, devices["Switch PoE"].id)
        switch.interfaces.extend([Interface(name=f"ge-0/0/{i}") for i in (1, 2, 3, 4, 7, 8)])
        speaker = session.get(Device, devices["Loa truyền thanh"].id)
        speaker.interfaces.append(Interface(name="eth0"))
        session.flush()
        p7 = next(i for i in switch.interfaces if i.name == "ge-0/0/7")
        session.add(Cable(a_interface_id=p7.id, b_interface_id=speaker.interfaces[0].id))
    with database.session() as session:  # a name a proposal refuses can only come from an older row: raw SQL
        session.execute(Interface.__table__.insert().values(device_id=devices["Switch PoE"].id, name="bad,name",
                                                            description="", kind="ethernet", poe=False,
                                                            uplink=False, enabled=True, version=1))


def _gone(database: Database, site_id: int, status: str = "open") -> list[Any]:
    with database.session() as session:
        return [f for f in site_findings(session, site_id, status=status) if f.code in GONE]


def _switch_ports(database: Database, devices: dict[str, Device]) -> list[str]:
    with database.session() as session:
        return sorted(session.scalars(select(Interface.name).where(Interface.device_id == devices["Switch PoE"].id)))


def test_ports_a_complete_survey_does_not_list_are_proposed_with_their_cable_and_applying_deletes_them(
        database: Database) -> None:
    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    _inventory_ports(database, devices)
    with database.session() as session:
        store.ingest_survey(session, _doc(devices, _snmp()), site_id=hd)
    (gone,) = _gone(database, hd)
    assert (gone.code, gone.severity, gone.applicable) == ("interfaces_gone_cabled", "warning", True)
    assert gone.params == {"switch": "Switch PoE", "count": 2, "ports": "ge-0/0/7, ge-0/0/8",
                           "cables": "ge-0/0/7 ↔ Loa truyền thanh eth0", "cabled": 1}
    assert _switch_ports(database, devices) == ["bad,name", *(f"ge-0/0/{i}" for i in (1, 2, 3, 4, 7, 8))]

    with database.session() as session:
        apply_site_finding(session, hd, gone.id, actor="user:editor")
    assert _switch_ports(database, devices) == ["bad,name", *(f"ge-0/0/{i}" for i in (1, 2, 3, 4))]
    assert _gone(database, hd) == []
    with database.session() as session:
        assert session.query(Cable).count() == 0
        speaker = session.get(Device, devices["Loa truyền thanh"].id)
        assert [i.name for i in speaker.interfaces] == ["eth0"]  # the far end's own port stays
        logged, _ = list_changes(session, site_id=hd)
    deleted = sorted((c.object_type, c.object_repr) for c in logged if c.action == "delete")
    assert deleted == [("cable", "Switch PoE ge-0/0/7 ↔ Loa truyền thanh eth0"),
                       ("interface", "ge-0/0/7"), ("interface", "ge-0/0/8")]
    assert all(c.actor == "user:editor" for c in logged if c.action == "delete")


def test_dismissing_keeps_the_ports_and_their_cable(database: Database) -> None:
    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    _inventory_ports(database, devices)
    with database.session() as session:
        store.ingest_survey(session, _doc(devices, _snmp()), site_id=hd)
    (gone,) = _gone(database, hd)
    with database.session() as session:
        dismiss_site_finding(session, hd, gone.id, actor="user:editor", reason="module sent for repair, back soon")
    assert _gone(database, hd) == [] and [f.id for f in _gone(database, hd, "dismissed")] == [gone.id]
    assert "ge-0/0/7" in _switch_ports(database, devices) and "ge-0/0/8" in _switch_ports(database, devices)
    with database.session() as session:
        assert session.query(Cable).count() == 1


def test_ports_without_cables_get_the_shorter_sentence(database: Database) -> None:
    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    with database.session() as session:
        switch = session.get(Device, devices["Switch PoE"].id)
        switch.interfaces.extend([Interface(name=n) for n in ("ge-0/0/1", "ge-0/0/9")])
    with database.session() as session:
        store.ingest_survey(session, _doc(devices, _snmp()), site_id=hd)
    (gone,) = _gone(database, hd)
    assert gone.code == "interfaces_gone" and gone.params["ports"] == "ge-0/0/9" and gone.params["cabled"] == 0


@pytest.mark.parametrize("snmp", [
    _snmp(False, error_kind="timeout", error="budget spent"),  # the read ended early
    _snmp(False, truncated=["1.3.6.1.2.1.2.2.1"]),  # ifTable cut at the row cap
    _snmp(None),  # a survey document written before the flag: never proposes a removal
    _snmp(True, interfaces=[]),  # nothing listed, whatever the flag says
], ids=["error", "row-cap", "no-flag", "empty"])
def test_a_partial_or_failed_read_proposes_no_removal(database: Database, snmp: dict[str, Any]) -> None:
    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    _inventory_ports(database, devices)
    with database.session() as session:
        store.ingest_survey(session, _doc(devices, snmp), site_id=hd)
    assert _gone(database, hd) == []


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_removal_renders_in_both_languages(database: Database, lang: str) -> None:
    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    _inventory_ports(database, devices)
    with database.session() as session:
        store.ingest_survey(session, _doc(devices, _snmp()), site_id=hd)
    (gone,) = _gone(database, hd)
    translation = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang])
    text, advice = render_finding(gone.coded(), translation.gettext, lang)
    if lang == "vi":
        assert text == ("Switch PoE không còn báo 2 cổng có trong danh mục: ge-0/0/7, ge-0/0/8; các sợi cáp nối vào "
                        "chúng cũng bị xoá theo: ge-0/0/7 ↔ Loa truyền thanh eth0")
        assert advice.startswith("áp dụng nếu")
    else:
        assert text == ("Switch PoE no longer reports 2 of the inventory's ports: ge-0/0/7, ge-0/0/8; their cables "
                        "go with them: ge-0/0/7 ↔ Loa truyền thanh eth0")
        assert advice.endswith("dismiss it to keep them")


def test_the_flag_says_complete_only_for_a_whole_read() -> None:
    from sitescout.probes.snmp.errors import SnmpErrorKind
    from sitescout.probes.snmp.models import DeviceSnapshot
    from sitescout.probes.snmp.models import Interface as SnmpInterface
    from sitescout.probes.snmp.survey_stage import MAX_INTERFACES, interfaces_complete

    def snap(count: int = 4, **kw: Any) -> DeviceSnapshot:
        read = DeviceSnapshot("198.51.100.3", credential="v2c", **kw)
        read.interfaces = {i: SnmpInterface(i, name=f"p{i}") for i in range(1, count + 1)}
        return read

    assert interfaces_complete(snap())
    assert interfaces_complete(snap(truncated=["1.3.6.1.2.1.17.7.1.2.2.1.2"]))  # only the forwarding table was cut
    assert not interfaces_complete(snap(truncated=["1.3.6.1.2.1.31.1.1.1"]))  # ifXTable cut at the row cap
    assert not interfaces_complete(snap(error_kind=SnmpErrorKind.TIMEOUT, error="budget spent"))
    assert not interfaces_complete(snap(skipped=["interfaces"]))
    assert not interfaces_complete(snap(count=0)) and not interfaces_complete(snap(count=MAX_INTERFACES + 1))
    unanswered = snap()
    unanswered.credential = None
    assert not interfaces_complete(unanswered)


# ---------------------------------------------------------------------------
# The flag from real reads of the lab's sw1: complete, cut at the row cap, out of time.

_READ = """
import json, sys
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity
from sitescout.probes.snmp.collect import CollectSettings, collect_device
from sitescout.probes.snmp.survey_stage import snmp_field
settings = CollectSettings(**json.loads(sys.argv[2]))
snap = collect_device(sys.argv[1], SnmpCredentials(communities=(V2cCommunity("lab-ro"),)), settings)
json.dump(snmp_field(snap, set(), None), sys.stdout)
"""


@pytest.fixture(scope="module")
def sw1_reads() -> Iterator[dict[str, dict[str, Any]]]:
    """The ``snmp`` field of three reads of the lab's sw1 in the scanner namespace; the lab is removed after."""
    from sitescout.infra.lab.pytest_plugin import snmp_lab_site

    with snmp_lab_site() as (_site, lab):
        sw1 = next(ip for ip, agent in lab.agents.items() if agent.spec.name == "sw1")
        reads = {}
        for name, settings in (("full", {}), ("row-cap", {"max_rows": 6}),
                               ("out-of-time", {"budget_s": 0.05, "timeout_s": 0.05})):
            cp = lab.scanner.run([sys.executable, "-c", _READ, sw1, json.dumps(settings)], timeout=60)
            assert cp.returncode == 0, cp.stderr[-2000:]
            reads[name] = json.loads(cp.stdout)
        reads["truth"] = {"ports": sorted(p for _ip, (sw, p) in lab.truth.ports.items() if sw == sw1)}
        yield reads


@pytest.mark.netns
def test_real_reads_of_sw1_propose_a_removal_only_when_complete(database: Database,
                                                                sw1_reads: dict[str, dict[str, Any]]) -> None:
    full, capped, late = sw1_reads["full"], sw1_reads["row-cap"], sw1_reads["out-of-time"]
    assert full["interfaces_complete"] is True and full["error_kind"] is None and not full["truncated"]
    listed = {i["name"] for i in full["interfaces"]}
    assert set(sw1_reads["truth"]["ports"]) <= listed and "up2" in listed
    assert capped["interfaces_complete"] is False and "1.3.6.1.2.1.2.2.1" in capped["truncated"]
    assert late["interfaces_complete"] is False and late["error_kind"] is not None

    hd = seed_commune(database)[HD]
    devices = _devices(database, hd)
    with database.session() as session:  # the inventory knows sw1's real ports and one more it has not
        switch = session.get(Device, devices["Switch PoE"].id)
        switch.interfaces.extend([Interface(name=name) for name in sorted(listed | {"p42"})])
    for n, (read, proposes) in enumerate(((capped, False), (late, False), (full, True))):
        with database.session() as session:
            store.ingest_survey(session, _doc(devices, read, f"2026-12-0{n + 1}T08:00:00+00:00"), site_id=hd)
        gone = _gone(database, hd)
        assert [f.params["ports"] for f in gone] == (["p42"] if proposes else []), n
