"""Interfaces and cables: the writes every caller shares (API, survey proposals) and the reads of pages and targets.

Each write goes through ``inventory.editing`` (field rules, row versions, the change log).  An
interface has at most one cable: ``check_free`` refuses (``ConflictError``, the API's 409) a
cable to an interface that has one at either end, before the unique constraints would.
Deleting an interface deletes its cable first, with its own change-log entry.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from sitescout.inventory.changes import record_change, snapshot
from sitescout.inventory.choices import SNMP_KINDS
from sitescout.inventory.db import ConflictError
from sitescout.inventory.errors import Coded
from sitescout.inventory.editing import create_record, delete_record
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.models import Device

__all__ = ["cable_of", "check_free", "create_interface", "create_cable", "delete_interface", "delete_cable",
           "far_end", "uplink_names", "PortView", "SwitchView", "site_network"]


def cable_of(session: Session, interface_id: int) -> Cable | None:
    """Return the cable plugged into an interface (at either end), or None."""
    stmt = select(Cable).where(or_(Cable.a_interface_id == interface_id, Cable.b_interface_id == interface_id))
    return session.scalars(stmt).first()


def far_end(cable: Cable, interface_id: int) -> Interface:
    """Return the interface at the other end of `cable` from `interface_id`."""
    return cable.b_interface if cable.a_interface_id == interface_id else cable.a_interface


def check_free(session: Session, interface: Interface) -> None:
    """Refuse (ConflictError) an interface that already has a cable, naming where that cable goes."""
    cable = cable_of(session, interface.id)
    if cable is not None:
        other = far_end(cable, interface.id)
        raise ConflictError(Coded(
            "interface_has_cable", "interface %(device)s %(interface)s already has a cable (cable %(cable)s, "
            "to %(far_device)s %(far_interface)s); remove that cable first", device=interface.device.name,
            interface=interface.name, cable=cable.id, far_device=other.device.name, far_interface=other.name))


def create_interface(session: Session, actor: str, device: Device, fields: dict[str, Any]) -> Interface:
    """Create an interface of `device` from parsed fields, logged; ConflictError for a name the device has."""
    interface = create_record(session, actor, "interface", {**fields, "device_id": device.id})
    assert isinstance(interface, Interface)
    return interface


def create_cable(session: Session, actor: str, fields: dict[str, Any]) -> Cable:
    """Create a cable between two free interfaces, logged; ConflictError when either end has a cable."""
    for key in ("a_interface_id", "b_interface_id"):
        interface = session.get(Interface, fields[key])
        assert interface is not None  # parse_fields checked the id
        check_free(session, interface)
    cable = create_record(session, actor, "cable", fields)
    assert isinstance(cable, Cable)
    return cable


def delete_cable(session: Session, actor: str, cable: Cable, *, if_version: int | None) -> None:
    """Delete a cable if its version is still `if_version` (None: any), logged."""
    delete_record(session, actor, cable, if_version=if_version)


def delete_interface(session: Session, actor: str, interface: Interface, *, if_version: int | None) -> None:
    """Delete an interface and, first, its cable (each logged)."""
    cable = cable_of(session, interface.id)
    if cable is not None:
        record_change(session, actor, cable, "delete", snapshot(cable))
        session.delete(cable)
        session.flush()
    delete_record(session, actor, interface, if_version=if_version)


def uplink_names(session: Session, device_ids: Collection[int] | None = None) -> dict[int, list[str]]:
    """Return device id → the sorted names of its uplink interfaces, for switches and routers (of `device_ids`)."""
    stmt = (select(Interface.device_id, Interface.name).join(Device, Device.id == Interface.device_id)
            .where(Interface.uplink.is_(True), Device.kind.in_(sorted(SNMP_KINDS))))
    if device_ids is not None:
        stmt = stmt.where(Interface.device_id.in_(sorted(set(device_ids))))
    names: dict[int, list[str]] = {}
    for device_id, name in session.execute(stmt):
        names.setdefault(device_id, []).append(name)
    return {d: sorted(n) for d, n in names.items()}


def camera_port_names(session: Session, device_ids: Collection[int] | None = None) -> dict[int, list[str]]:
    """Return device id → the sorted names of its interfaces cabled to a camera, for switches and routers."""
    port, far = aliased(Interface), aliased(Interface)
    switch, camera = aliased(Device), aliased(Device)
    names: dict[int, set[str]] = {}
    ends = ((Cable.a_interface_id, Cable.b_interface_id), (Cable.b_interface_id, Cable.a_interface_id))
    for near_col, far_col in ends:
        stmt = (select(port.device_id, port.name)
                .join(Cable, near_col == port.id).join(far, far_col == far.id)
                .join(switch, switch.id == port.device_id).join(camera, camera.id == far.device_id)
                .where(switch.kind.in_(sorted(SNMP_KINDS)), camera.kind == "camera"))
        if device_ids is not None:
            stmt = stmt.where(port.device_id.in_(sorted(set(device_ids))))
        for device_id, name in session.execute(stmt):
            names.setdefault(device_id, set()).add(name)
    return {d: sorted(n) for d, n in names.items()}


@dataclass(frozen=True)
class PortView:
    """One port of a switch as the site page shows it, with what its cable leads to."""

    id: int
    name: str
    description: str
    speed_bps: int | None
    poe: bool
    uplink: bool
    enabled: bool
    peer_device_id: int | None = None
    peer_device: str = ""
    peer_site_id: int | None = None
    peer_port: str = ""
    cable_status: str = ""


@dataclass(frozen=True)
class SwitchView:
    """A switch or router of a site with its ports."""

    id: int
    name: str
    kind: str
    ip: str | None
    snmp_port: int | None
    ports: list[PortView] = field(default_factory=list)


def site_network(session: Session, site_id: int) -> list[SwitchView]:
    """Return the switches and routers of a site with their ports and what is cabled to each, by name."""
    devices = list(session.scalars(select(Device).where(Device.site_id == site_id,
                                                        Device.kind.in_(sorted(SNMP_KINDS)))
                                   .order_by(Device.name, Device.id)))
    if not devices:
        return []
    ports = list(session.scalars(select(Interface).where(Interface.device_id.in_([d.id for d in devices]))))
    ids = [p.id for p in ports]
    cables = list(session.scalars(select(Cable).where(or_(Cable.a_interface_id.in_(ids),
                                                          Cable.b_interface_id.in_(ids))))) if ids else []
    by_port = {c.a_interface_id: c for c in cables} | {c.b_interface_id: c for c in cables}
    views = []
    for device in devices:
        rows = []
        for port in sorted((p for p in ports if p.device_id == device.id), key=lambda p: _port_order(p.name)):
            cable = by_port.get(port.id)
            peer = far_end(cable, port.id) if cable is not None else None
            rows.append(PortView(
                port.id, port.name, port.description, port.speed_bps, port.poe, port.uplink, port.enabled,
                peer.device_id if peer else None, peer.device.name if peer else "",
                peer.device.site_id if peer else None, peer.name if peer else "", cable.status if cable else ""))
        views.append(SwitchView(device.id, device.name, device.kind, device.ip, device.snmp_port, rows))
    return views


def _port_order(name: str) -> tuple[Any, ...]:
    """Sort "ge-0/0/10" after "ge-0/0/9": digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part)
