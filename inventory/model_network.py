"""A device's interfaces and the cables between them (NetBox's model: intended state, issue #15).

``Interface`` is a port of a device as the inventory intends it (name = ifName, the ifIndex it had
when last read, speed, MAC, whether it is a PoE source port, whether it is the device's uplink,
whether it is enabled).  ``Cable`` joins two interfaces; an interface has at most one cable (a
unique constraint on each end, and ``inventory.network.check_free`` for an interface that is the
A end of one cable and would be the B end of another).  What a switch reports over SNMP stays in the
survey document; surveys *propose* interfaces and cables (``inventory.network_proposals``), a person
applies them.  ``inventory.models`` imports this module, so the tables are part of ``Base.metadata``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sitescout.inventory.choices import CableStatus, InterfaceKind
from sitescout.inventory.errors import Coded, ValidationError
from sitescout.inventory.model_base import _ENUM_LEN, Base, UtcDateTime, _check_enum, _check_name, normalize_mac, utcnow

if TYPE_CHECKING:
    from sitescout.inventory.models import Device

__all__ = ["Interface", "Cable", "MAX_SPEED_BPS", "port_name_problem"]

#: Fastest port speed accepted (1.6 Tb/s Ethernet is on the way; a bigger number is a typing error).
MAX_SPEED_BPS = 10**13


def port_name_problem(name: str) -> Coded | None:
    """Why `name` cannot name an interface, or None: a comma would split it in two in the worker's
    comma-separated SNMP labels (/sd/prometheus), a control character would forge lines in logs and labels."""
    if "," in name or any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in name):
        return Coded("port_name_characters", "must not contain a comma or a control character")
    return None


class Interface(Base):
    """One port of a device: what the inventory intends it to be (name, speed, PoE, uplink, enabled)."""

    __tablename__ = "interfaces"
    __table_args__ = (UniqueConstraint("device_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    #: The port's name as the device calls it (ifName: "ge-0/0/3", "1/1/4", "eth0").
    name: Mapped[str] = mapped_column(String(64))
    #: The ifIndex the port had when last read (an agent may renumber after a reboot: a hint, not a key).
    if_index: Mapped[int | None] = mapped_column(Integer)
    #: The port's description (ifAlias): what the switch's configuration says is plugged in.
    description: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(_ENUM_LEN), default=InterfaceKind.ETHERNET.value)
    speed_bps: Mapped[int | None] = mapped_column(BigInteger)
    mac: Mapped[str | None] = mapped_column(String(17))
    #: The port supplies PoE (a PSE port).
    poe: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The port leads to the rest of the network (the worker's uplink alerts watch it).
    uplink: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Administratively enabled (intended state; whether the link is up is observed, not stored here).
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    device: Mapped[Device] = relationship(back_populates="interfaces")

    @property
    def site_id(self) -> int | None:
        """The site of the interface's device (the change log files the interface under it)."""
        return self.device.site_id if self.device is not None else None

    def validate(self) -> None:
        """Check the name, kind, ifIndex, speed and MAC (normalised)."""
        _check_name("interface name", self.name)
        self.name = self.name.strip()
        problem = port_name_problem(self.name)
        if problem is not None:
            raise ValidationError("name", problem)
        _check_enum("kind", self.kind, InterfaceKind)
        if self.if_index is not None and not 0 < self.if_index < 2**31:
            raise ValidationError("if_index", f"{self.if_index} is not an ifIndex (1 to 2147483647)")
        if self.speed_bps is not None and not 0 <= self.speed_bps <= MAX_SPEED_BPS:
            raise ValidationError("speed_bps", f"{self.speed_bps} bit/s is not a port speed (0 to 10 Tb/s)")
        if self.mac is not None:
            normalized = normalize_mac(self.mac)
            if normalized != self.mac:
                self.mac = normalized


class Cable(Base):
    """A cable between two interfaces (A and B end; an interface has at most one cable)."""

    __tablename__ = "cables"
    __table_args__ = (UniqueConstraint("a_interface_id"), UniqueConstraint("b_interface_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    a_interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    b_interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(_ENUM_LEN), default=CableStatus.CONNECTED.value)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    a_interface: Mapped[Interface] = relationship(foreign_keys=[a_interface_id])
    b_interface: Mapped[Interface] = relationship(foreign_keys=[b_interface_id])

    @property
    def name(self) -> str:
        """How the change log names the cable: "sw1 ge-0/3 ↔ cam1 eth0"."""
        return f"{_end(self.a_interface)} ↔ {_end(self.b_interface)}"

    @property
    def site_id(self) -> int | None:
        """The site of the A end's device (the change log files the cable under it)."""
        return self.a_interface.site_id if self.a_interface is not None else None

    def validate(self) -> None:
        """Check the status and that the cable joins two different interfaces."""
        _check_enum("status", self.status, CableStatus)
        if self.a_interface_id is not None and self.a_interface_id == self.b_interface_id:
            raise ValidationError("b_interface_id", "a cable joins two different interfaces")


def _end(interface: Interface | None) -> str:
    if interface is None:
        return "?"
    device = interface.device
    return f"{device.name if device is not None else '?'} {interface.name}"
