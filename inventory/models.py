"""The inventory's tables: curated records (intended state) and, kept apart, what surveys observed.

Curated: Region → Commune → Site → Device → CameraDetails.  Observed: Survey (the raw
document), SurveySnapshot, Observation, DeviceHealth (latest health per device),
Finding (changes a survey noticed) and Candidate (a surveyed device that matched
nothing).  Uniqueness is a database constraint (messages in ``UNIQUE_MESSAGES``);
cross-field rules are each model's ``validate()``, run before every flush.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from sqlalchemy.types import TypeDecorator

from sitescout.inventory.choices import (
    ALLOWED_TRANSITIONS,
    CandidateState,
    DeviceKind,
    Health,
    Role,
    SiteKind,
    Status,
)
from sitescout.inventory.search import fold

__all__ = [
    "Base",
    "ValidationError",
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
    "Plan",
    "UNIQUE_MESSAGES",
    "normalize_mac",
    "utcnow",
    "UtcDateTime",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ENUM_LEN = 20


def utcnow() -> datetime:
    """Return the current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ValidationError(ValueError):
    """A record breaks a rule; ``field`` names the offending field, the message says what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalize_mac(mac: str | None) -> str | None:
    """Return a MAC as aa:bb:cc:dd:ee:ff, or None; raise ValidationError if it is not one."""
    if mac is None or not mac.strip():
        return None
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", mac)
    candidate = ":".join(hexdigits[i : i + 2] for i in range(0, len(hexdigits), 2)).lower()
    if len(hexdigits) != 12 or not re.fullmatch(r"[0-9a-fA-F:.\- ]+", mac.strip()) or not _MAC.match(candidate):
        raise ValidationError("mac", f"{mac!r} is not a MAC address; write it as aa:bb:cc:dd:ee:ff")
    return candidate


def _check_enum(field: str, value: Any, enum: type) -> None:
    try:
        enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValidationError(field, f"{value!r} is not one of: {allowed}") from None


def _check_name(field: str, value: str | None) -> None:
    if value is None or not value.strip():
        raise ValidationError(field, "must not be empty")


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
        allowed = ", ".join(s.value for s in ALLOWED_TRANSITIONS[old]) or "nothing (retired is final)"
        raise ValidationError("status", f"cannot go from {old.value} to {new.value}; from {old.value} only to {allowed}")


def _check_uri(field: str, uri: str) -> None:
    parts = urlsplit(uri)
    if not parts.scheme or not parts.hostname:
        raise ValidationError(field, f"{uri!r} is not an absolute URI")
    if parts.username or parts.password:
        raise ValidationError(field, "URIs must not carry credentials; store them with set_device_credential")


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can rely on."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

    def __init__(self, **kwargs: Any) -> None:
        # Scalar column defaults apply at construction, so validate() sees them before the INSERT.
        for column in self.__table__.columns:
            default = column.default
            if column.key not in kwargs and default is not None and getattr(default, "is_scalar", False):
                kwargs[column.key] = default.arg  # type: ignore[attr-defined]
        for key, value in kwargs.items():
            if not hasattr(type(self), key):
                raise TypeError(f"{type(self).__name__} has no attribute {key!r}")
            setattr(self, key, value)

    def validate(self) -> None:
        """Check cross-field rules; raise ValidationError with a message a person can act on."""


class Region(Base):
    """A province or district: the top of the geographic tree."""

    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
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
            raise ValidationError("latitude", f"{self.latitude} is outside -90..90 (are latitude and longitude swapped?)")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise ValidationError("longitude", f"{self.longitude} is outside -180..180")


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
    #: Fernet token of {"username", "password"}; only inventory.secrets reads it.
    credential_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    site: Mapped[Site] = relationship(back_populates="devices")
    camera: Mapped[CameraDetails | None] = relationship(
        back_populates="device", cascade="all, delete-orphan", uselist=False
    )

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
                raise ValidationError("ip", f"{self.ip!r} is not an IPv4 or IPv6 address") from None
        if self.mac is not None:
            normalized = normalize_mac(self.mac)
            if normalized != self.mac:
                self.mac = normalized
        for field in ("serial", "onvif_endpoint", "manufacturer"):
            if getattr(self, field) is not None and not getattr(self, field).strip():
                setattr(self, field, None)
        if self.status == Status.ACTIVE and self.ip is None and self.kind == DeviceKind.CAMERA:
            raise ValidationError("ip", "an active camera needs an IP address to be monitored; add one or mark it planned")


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
    device: Mapped[Device] = relationship(back_populates="camera")

    def validate(self) -> None:
        """Check mount position, height, heading, field of view and that URIs carry no credentials."""
        if self.mount_latitude is not None and not -90 <= self.mount_latitude <= 90:
            raise ValidationError("mount_latitude", f"{self.mount_latitude} is outside -90..90")
        if self.mount_longitude is not None and not -180 <= self.mount_longitude <= 180:
            raise ValidationError("mount_longitude", f"{self.mount_longitude} is outside -180..180")
        if self.height_m is not None and not 0 <= self.height_m <= 200:
            raise ValidationError("height_m", f"{self.height_m} m is not a mounting height (0..200)")
        if self.heading_deg is not None and not 0 <= self.heading_deg < 360:
            raise ValidationError("heading_deg", f"{self.heading_deg} is outside 0..360 (0 = north, clockwise)")
        if self.hfov_deg is not None and not 0 < self.hfov_deg <= 360:
            raise ValidationError("hfov_deg", f"{self.hfov_deg} is outside 0..360")
        for uri in self.stream_uris or []:
            _check_uri("stream_uris", uri)
        for profile in self.profiles or []:
            for key in ("stream_uri", "snapshot_uri"):
                if profile.get(key):
                    _check_uri(f"profiles.{key}", profile[key])


class Survey(Base):
    """One survey document as received (idempotent by site, started_at and content hash)."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("site_id", "started_at", "content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    site_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    content_sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    snapshots: Mapped[list[SurveySnapshot]] = relationship(cascade="all, delete-orphan")


class SurveySnapshot(Base):
    """A camera picture taken during a survey, kept with it."""

    __tablename__ = "survey_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    source: Mapped[str] = mapped_column(String(20))
    uri: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Observation(Base):
    """One measurement of a device (from a survey or the worker), never a curated fact."""

    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_device_time", "device_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    health: Mapped[str] = mapped_column(String(_ENUM_LEN), default=Health.UNKNOWN.value)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def validate(self) -> None:
        """Check the health value."""
        _check_enum("health", self.health, Health)


class DeviceHealth(Base):
    """Latest observed health of a device, so the map never scans all observations."""

    __tablename__ = "device_health"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    health: Mapped[str] = mapped_column(String(_ENUM_LEN))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")


class Finding(Base):
    """A change or problem a survey noticed (new firmware, moved IP, missing device…)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40))
    inventory_value: Mapped[str | None] = mapped_column(Text)
    observed_value: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


class Candidate(Base):
    """A surveyed device that matched nothing: a person accepts (creating a Device) or rejects it."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("survey_id", "ip"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(_ENUM_LEN), default=CandidateState.PENDING.value)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def validate(self) -> None:
        """Check the state and that an accepted candidate points at its device."""
        _check_enum("state", self.state, CandidateState)


class ApiToken(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(_ENUM_LEN))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def validate(self) -> None:
        """Check the role."""
        _check_enum("role", self.role, Role)


class User(Base):
    """A person who logs into the web UI (scrypt password hash)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(_ENUM_LEN))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"

    def validate(self) -> None:
        """Check the username and role (workers use tokens, not logins)."""
        _check_name("username", self.username)
        _check_enum("role", self.role, Role)
        if self.role == Role.WORKER:
            raise ValidationError("role", "workers authenticate with a token; give a person admin, editor or viewer")


class Plan(Base):
    """A saved camera placement plan of a site: the planner's GeoJSON and its planned cameras."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    #: The FeatureCollection from inventory.plan_io.plan_geojson, as produced (with its "plan" summary).
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
            raise ValidationError("gap", f"{self.gap} is negative; an optimality gap is at least 0")


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
}


@event.listens_for(Session, "before_flush")
def _validate_before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Base) and obj not in session.deleted:
            obj.validate()
