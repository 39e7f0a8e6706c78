"""Closed sets of values the inventory accepts (one module, like NetBox's dcim/choices.py)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SiteKind", "DeviceKind", "Status", "CandidateState", "Health", "Role", "ALLOWED_TRANSITIONS",
           "InterfaceKind", "CableStatus", "SNMP_KINDS"]


class SiteKind(StrEnum):
    """What a site is."""

    VILLAGE_HALL = "village_hall"
    MARKET = "market"
    SCHOOL = "school"
    HEALTH_STATION = "health_station"
    CROSSROADS = "crossroads"
    COMMUNE_OFFICE = "commune_office"
    OTHER = "other"


class DeviceKind(StrEnum):
    """What a device is."""

    CAMERA = "camera"
    SWITCH = "switch"
    ROUTER = "router"
    ACCESS_POINT = "access_point"
    LOUDSPEAKER = "loudspeaker"
    COMPUTER = "computer"
    OTHER = "other"


class Status(StrEnum):
    """Lifecycle of a curated record (intended state, not observed state)."""

    PLANNED = "planned"
    ACTIVE = "active"
    OFFLINE = "offline"
    RETIRED = "retired"


class CandidateState(StrEnum):
    """Decision about a surveyed device that matched nothing in the inventory."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Health(StrEnum):
    """Health derived from the latest observations; worst first in HEALTH_ORDER."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


class Role(StrEnum):
    """Who may do what: a worker token only reads targets and posts observations."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"
    WORKER = "worker"
    ALERTMANAGER = "alertmanager"  # posts Alertmanager's webhook (POST /api/v1/alerts), nothing else


#: Roles of machines: they authenticate with tokens only, never as a person logging in.
MACHINE_ROLES: frozenset[str] = frozenset({Role.WORKER.value, Role.ALERTMANAGER.value})


#: Lifecycle moves a person may make; retired is final (a reused device is a new record).
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PLANNED: frozenset({Status.ACTIVE, Status.RETIRED}),
    Status.ACTIVE: frozenset({Status.OFFLINE, Status.RETIRED}),
    Status.OFFLINE: frozenset({Status.ACTIVE, Status.RETIRED}),
    Status.RETIRED: frozenset(),
}


class InterfaceKind(StrEnum):
    """What a device's interface is (NetBox's interface type, coarsely)."""

    ETHERNET = "ethernet"
    VIRTUAL = "virtual"  # a VLAN interface, a bridge, a loopback: no cable plugs into it
    OTHER = "other"


class CableStatus(StrEnum):
    """Whether a cable is there (connected) or only intended (planned)."""

    PLANNED = "planned"
    CONNECTED = "connected"


#: Device kinds read over SNMP by the worker: a new one gets snmp_port 161 unless it says otherwise.
SNMP_KINDS: frozenset[str] = frozenset({DeviceKind.SWITCH.value, DeviceKind.ROUTER.value})
