"""The inventory's tables: curated records (intended state) and, kept apart, what surveys observed.

Curated: Region → Commune → Site → Device → CameraDetails (here).  Observed: Survey (the raw
document), SurveySnapshot, Observation, DeviceHealth (latest health per device),
Finding (changes a survey noticed) and Candidate (a surveyed device that matched
nothing), in ``model_survey``; accounts are in ``model_accounts``, the change log in
``model_changes``, the declarative base in ``model_base``; every name stays importable from
here.  Uniqueness is a database constraint (messages in ``UNIQUE_MESSAGES``);
cross-field rules are each model's ``validate()``, run before every flush.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from sitescout.inventory.choices import (
    ALLOWED_TRANSITIONS,
    SNMP_KINDS,
    DeviceKind,
    SiteKind,
    Status,
)
from sitescout.device_uris import UriCode, bind_to_device, has_credentials
from sitescout.inventory.errors import Coded
from sitescout.inventory.errors import ValidationError  # defined with the package's other errors; kept importable here
from sitescout.inventory.search import fold
# The models live in modules by responsibility; every public name stays importable from here.
from sitescout.inventory.model_base import _ENUM_LEN, Base, UtcDateTime, _check_enum, _check_name, normalize_mac, utcnow
from sitescout.inventory.model_survey import (  # re-exported
    Candidate,
    DeviceHealth,
    Finding,
    Observation,
    Survey,
    SurveySnapshot,
)
from sitescout.inventory.model_accounts import ApiToken, User, WebSession  # re-exported
from sitescout.inventory.model_changes import CHANGE_ACTIONS as CHANGE_ACTIONS, Change  # re-exported

if TYPE_CHECKING:
    from sitescout.inventory.model_network import Interface

__all__ = [
    "Base",
    "ValidationError",
    "bind_camera_uris",
    "Region",
    "Commune",
    "Site",
    "Device",
    "CameraDetails",
    "Survey",
    "SurveySnapshot",
    "Observation",
    "DeviceHealth",
    "Finding",
    "Candidate",
    "ApiToken",
    "User",
    "WebSession",
    "Plan",
    "Change",
    "Interface",
    "Cable",
    "VERSIONED",
    "UNIQUE_MESSAGES",
    "normalize_mac",
    "utcnow",
    "UtcDateTime",
]


def _check_status_transition(obj: Any) -> None:
    _check_enum("status", obj.status, Status)
    if obj.id is None:  # a new record may start in any status
        return
    history = inspect(obj).attrs.status.history
    if not history.deleted:
        return
    old = Status(history.deleted[0])
    new = Status(obj.status)
    if old != new and new not in ALLOWED_TRANSITIONS[old]:
        allowed = ", ".join(s.value for s in ALLOWED_TRANSITIONS[old])
        if not allowed:
            raise ValidationError("status", Coded("status_final", "cannot go from %(state)s to %(new_state)s; "
                                                  "from %(state)s only to nothing (%(state)s is final)",
                                                  state=old.value, new_state=new.value))
        raise ValidationError("status", Coded(
            "status_transition", "cannot go from %(state)s to %(new_state)s; from %(state)s only to %(states)s",
            state=old.value, new_state=new.value, states=allowed))


def _check_uri(field: str, uri: str) -> None:
    parts = urlsplit(uri)
    if has_credentials(uri):  # userinfo, or ?password=… / /user=…_password=… (sitescout.device_uris)
        raise ValidationError(field, "URIs must not carry credentials; store them with set_device_credential")
    if not parts.scheme or not parts.hostname:
        raise ValidationError(field, Coded("not_absolute_uri", "%(uri)r is not an absolute URI", uri=uri))


def _bound_uri(field: str, uri: str, ip: str | None, previous_ip: str | None) -> str:
    """Return `uri` if it points at the device (re-based when the device moved from `previous_ip`).

    Raises:
        ValidationError: credentials in the URI, not an absolute URI, or a host that is not the device's
            address (a camera's password goes only to the camera: sitescout.device_uris).
    """
    _check_uri(field, uri)
    bound = bind_to_device(uri, ip, (urlsplit(uri).scheme,), previous_ip=previous_ip)
    if bound.uri is None:  # pragma: no cover - _check_uri refused it already
        raise ValidationError(field, Coded("not_absolute_uri", "%(uri)r is not an absolute URI", uri=uri))
    if UriCode.REBASED in bound.codes:
        raise ValidationError(field, Coded("uri_other_host", "host %(host)s is not the device's address %(ip)s; a "
                                           "device's URIs point at the device itself", host=bound.params["host"],
                                           ip=ip))
    return bound.uri


def _is_url(value: str | None) -> bool:
    return bool(value) and "//" in str(value)


def bind_camera_uris(camera: CameraDetails, ip: str | None, previous_ip: str | None = None) -> None:
    """Check (and, for a device that moved from `previous_ip`, re-base) a camera's stream and snapshot URIs.

    Raises:
        ValidationError: a URI carries credentials, is not absolute, or points at another host.
    """
    uris = [_bound_uri("stream_uris", uri, ip, previous_ip) for uri in camera.stream_uris or []]
    if uris != list(camera.stream_uris or []):
        camera.stream_uris = uris
    profiles = []
    for profile in camera.profiles or []:
        if not isinstance(profile, dict):
            raise ValidationError("profiles", "must be a list of objects")
        fixed = dict(profile)
        for key in ("stream_uri", "snapshot_uri"):
            if fixed.get(key):
                fixed[key] = _bound_uri(f"profiles.{key}", fixed[key], ip, previous_ip)
        profiles.append(fixed)
    if profiles != list(camera.profiles or []):
        camera.profiles = profiles


class Region(Base):
    """A province or district: the top of the geographic tree."""

    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    communes: Mapped[list[Commune]] = relationship(back_populates="region", cascade="all, delete-orphan")

    def validate(self) -> None:
        """Check the name."""
        _check_name("region name", self.name)
        self.name_folded = fold(self.name)


class Commune(Base):
    """A commune (xã) inside a region; sites belong to one."""

    __tablename__ = "communes"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    region: Mapped[Region] = relationship(back_populates="communes")
    sites: Mapped[list[Site]] = relationship(back_populates="commune", cascade="all, delete-orphan")

    def validate(self) -> None:
        """Check the name."""
        _check_name("commune name", self.name)
        self.name_folded = fold(self.name)


class Site(Base):
    """A place with equipment: village hall, market, school, health station, crossroads…"""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("commune_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(_ENUM_LEN), default=SiteKind.OTHER.value)
    status: Mapped[str] = mapped_column(String(_ENUM_LEN), default=Status.ACTIVE.value)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(Text, default="")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    commune: Mapped[Commune] = relationship(back_populates="sites")
    devices: Mapped[list[Device]] = relationship(back_populates="site", cascade="all, delete-orphan")

    def validate(self) -> None:
        """Check name, kind, status transition and coordinates (both or neither, in range)."""
        _check_name("site name", self.name)
        self.name_folded = fold(self.name)
        _check_enum("kind", self.kind, SiteKind)
        _check_status_transition(self)
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError("latitude", "give both latitude and longitude, or neither")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise ValidationError(
                "latitude", Coded("latitude_range", "%(value)s is outside -90..90 (are latitude and longitude "
                                  "swapped?)", value=self.latitude)
            )
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise ValidationError("longitude", Coded("longitude_range", "%(value)s is outside -180..180",
                                                     value=self.longitude))


class Device(Base):
    """A curated device at a site; the credential is encrypted (see inventory.secrets)."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("site_id", "name"),
        UniqueConstraint("site_id", "ip"),
        UniqueConstraint("mac"),
        UniqueConstraint("manufacturer", "serial"),
        UniqueConstraint("onvif_endpoint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(_ENUM_LEN), default=DeviceKind.OTHER.value)
    name: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(45))
    mac: Mapped[str | None] = mapped_column(String(17))
    vendor: Mapped[str | None] = mapped_column(String(200))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(200))
    onvif_endpoint: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(_ENUM_LEN), default=Status.ACTIVE.value)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: UDP port of the device's SNMP agent; None: not read over SNMP (a new switch or router gets 161).
    snmp_port: Mapped[int | None] = mapped_column(Integer)
    #: Fernet token of {"username", "password"}; only inventory.secrets reads it.
    credential_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    site: Mapped[Site] = relationship(back_populates="devices")
    camera: Mapped[CameraDetails | None] = relationship(
        back_populates="device", cascade="all, delete-orphan", uselist=False
    )
    #: Its ports (inventory.model_network); the database deletes them with the device.
    interfaces: Mapped[list[Interface]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True, order_by="Interface.name"
    )

    def __init__(self, **kwargs: Any) -> None:
        # A switch or router is read over SNMP on the standard port unless the caller says otherwise
        # (snmp_port=None: this one does not speak SNMP).  Later kind changes leave the port alone.
        if "snmp_port" not in kwargs and kwargs.get("kind") in SNMP_KINDS:
            kwargs["snmp_port"] = 161
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"Device(id={self.id!r}, name={self.name!r}, ip={self.ip!r}, status={self.status!r})"

    def validate(self) -> None:
        """Check name, kind, status transition, IP and MAC formats; normalise the MAC."""
        _check_name("device name", self.name)
        _check_enum("kind", self.kind, DeviceKind)
        _check_status_transition(self)
        if self.ip is not None:
            try:
                self.ip = str(ipaddress.ip_address(self.ip.strip()))
            except ValueError:
                raise ValidationError("ip", Coded("not_an_ip", "%(value)r is not an IPv4 or IPv6 address",
                                                  value=self.ip)) from None
        if self.mac is not None:
            normalized = normalize_mac(self.mac)
            if normalized != self.mac:
                self.mac = normalized
        for field in ("serial", "onvif_endpoint", "manufacturer"):
            if getattr(self, field) is not None and not getattr(self, field).strip():
                setattr(self, field, None)
        if self.snmp_port is not None and (isinstance(self.snmp_port, bool) or not 0 < self.snmp_port < 65536):
            raise ValidationError("snmp_port", Coded("snmp_port_range", "%(value)s is not a UDP port (1 to 65535), or "
                                                     "null for a device not read over SNMP", value=self.snmp_port))
        self._bind_uris()
        if self.status == Status.ACTIVE and self.ip is None and self.kind == DeviceKind.CAMERA:
            raise ValidationError(
                "ip", "an active camera needs an IP address to be monitored; add one or mark it planned"
            )


    def previous_ip(self) -> str | None:
        """Return the address this device had before the pending change of `ip` (None when unchanged)."""
        if self.id is None:
            return None
        history = inspect(self).attrs.ip.history
        return history.deleted[0] if history.deleted and history.deleted[0] != self.ip else None

    def _bind_uris(self) -> None:
        """Keep the ONVIF endpoint and the camera's URIs on the device's address (they follow a move)."""
        previous = self.previous_ip()
        if _is_url(self.onvif_endpoint):
            assert self.onvif_endpoint is not None
            bound = _bound_uri("onvif_endpoint", self.onvif_endpoint, self.ip, previous)
            if bound != self.onvif_endpoint:
                self.onvif_endpoint = bound
        if previous is not None and self.camera is not None:
            bind_camera_uris(self.camera, self.ip, previous)


class CameraDetails(Base):
    """Mounting and stream facts of a camera device (stream URIs never carry credentials)."""

    __tablename__ = "camera_details"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    mount_latitude: Mapped[float | None] = mapped_column(Float)
    mount_longitude: Mapped[float | None] = mapped_column(Float)
    height_m: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    hfov_deg: Mapped[float | None] = mapped_column(Float)
    profiles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    stream_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Row version: +1 on every change of the record (optimistic locking: the API's ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    device: Mapped[Device] = relationship(back_populates="camera")

    def validate(self) -> None:
        """Check mount position, height, heading, field of view and that URIs carry no credentials."""
        if self.mount_latitude is not None and not -90 <= self.mount_latitude <= 90:
            raise ValidationError("mount_latitude", Coded("mount_latitude_range", "%(value)s is outside -90..90",
                                                          value=self.mount_latitude))
        if self.mount_longitude is not None and not -180 <= self.mount_longitude <= 180:
            raise ValidationError("mount_longitude", Coded("longitude_range", "%(value)s is outside -180..180",
                                                           value=self.mount_longitude))
        if self.height_m is not None and not 0 <= self.height_m <= 200:
            raise ValidationError("height_m", Coded("mount_height_range", "%(value)s m is not a mounting height "
                                                    "(0..200)", value=self.height_m))
        if self.heading_deg is not None and not 0 <= self.heading_deg < 360:
            raise ValidationError("heading_deg", Coded("heading_range", "%(value)s is outside 0..360 (0 = north, "
                                                       "clockwise)", value=self.heading_deg))
        if self.hfov_deg is not None and not 0 < self.hfov_deg <= 360:
            raise ValidationError("hfov_deg", Coded("hfov_range", "%(value)s is outside 0..360", value=self.hfov_deg))
        device = self.device
        if device is not None:
            bind_camera_uris(self, device.ip, device.previous_ip())
        else:
            bind_camera_uris(self, None)


class Plan(Base):
    """A saved camera placement plan of a site: the planner's GeoJSON and its planned cameras."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    #: The FeatureCollection from inventory.planning.plan_io.plan_geojson, as produced (with its "plan" summary).
    geojson: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Ids of the planned camera devices this plan created (a device deleted later is skipped on read).
    device_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def validate(self) -> None:
        """Check the name and that the plan is a GeoJSON FeatureCollection."""
        _check_name("plan name", self.name)
        if not isinstance(self.geojson, dict) or self.geojson.get("type") != "FeatureCollection":
            raise ValidationError("geojson", "a plan is a GeoJSON FeatureCollection from the planner")
        if self.gap is not None and self.gap < 0:
            raise ValidationError("gap", Coded("gap_negative", "%(value)s is negative; an optimality gap is at least 0",
                                               value=self.gap))




# A device's interfaces and the cables between them (issue #15); re-exported.
from sitescout.inventory.model_network import Cable, Interface  # noqa: E402

#: The records whose rows carry a ``version`` (bumped before each flush that changes them).
VERSIONED: tuple[type[Base], ...] = (Region, Commune, Site, Device, CameraDetails, Interface, Cable)


#: Messages for unique constraints, keyed by (table, columns), shown when one is violated.
UNIQUE_MESSAGES: dict[tuple[str, tuple[str, ...]], str] = {
    ("regions", ("name",)): "a region with this name already exists; pick it instead of creating another",
    ("communes", ("region_id", "name")): "this region already has a commune with this name",
    ("sites", ("commune_id", "name")): "this commune already has a site with this name; choose another name",
    ("devices", ("site_id", "name")): "this site already has a device with this name; choose another name",
    ("devices", ("site_id", "ip")): "another device at this site already has this IP address; fix one of them",
    ("devices", ("mac",)): "another device already has this MAC address; it may be the same device",
    ("devices", ("manufacturer", "serial")): "another device of this manufacturer already has this serial number",
    ("devices", ("onvif_endpoint",)): "another device already has this ONVIF endpoint; it is the same camera",
    ("surveys", ("site_id", "started_at", "content_sha256")): "this survey is already stored",
    ("candidates", ("survey_id", "ip")): "this survey already has a candidate at this address",
    ("api_tokens", ("token_sha256",)): "token collision; create another token",
    ("users", ("username",)): "this username is taken; choose another",
    ("interfaces", ("device_id", "name")): "this device already has an interface with this name",
    ("cables", ("a_interface_id",)): "this interface already has a cable; remove that cable first",
    ("cables", ("b_interface_id",)): "this interface already has a cable; remove that cable first",
}


@event.listens_for(Session, "before_flush")
def _validate_before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Base) and obj not in session.deleted:
            obj.validate()
    for obj in list(session.dirty):
        if isinstance(obj, VERSIONED) and obj not in session.deleted and _columns_changed(obj):
            obj.version = (obj.version or 0) + 1  # type: ignore[attr-defined]


def _columns_changed(obj: Base) -> bool:
    """Return whether a column of the record changes in this flush (a related record changing does not count)."""
    state = inspect(obj)
    return any(state.attrs[c.key].history.has_changes() for c in state.mapper.column_attrs if c.key != "version")
