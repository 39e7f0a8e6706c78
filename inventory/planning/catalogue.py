"""The camera catalogue the planner picks from: models a deployment buys, with lens, bitrate, power and price.

It starts with generic profiles (2 MP 90°, 4 MP varifocal, 4K turret, 2 MP narrow bullet)
that a deployment edits or replaces with the models it actually buys.  ``inventory.db``
imports this module so the table is part of ``Base.metadata`` wherever the database is opened.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from sitescout.inventory.models import Base, UtcDateTime, ValidationError, utcnow

__all__ = ["CameraModelRow", "DEFAULT_MODELS", "CODECS", "list_camera_models", "create_camera_model",
           "update_camera_model", "plan_camera"]

CODECS = ("h264", "h265", "mjpeg")
_FIELDS = {"name": str, "width_px": int, "height_px": int, "hfov_min_deg": float, "hfov_max_deg": float,
           "zoom_steps": int, "codec": str, "fps": float, "bitrate_kbps": float, "power_w": float,
           "price": float, "currency": str}

#: Generic profiles a new inventory starts with (prices in VND, typical of 2026 retail for the class).
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    {"name": "2 MP 90°", "width_px": 1920, "height_px": 1080, "hfov_min_deg": 90.0, "hfov_max_deg": 90.0,
     "codec": "h265", "fps": 15.0, "power_w": 5.0, "price": 1_200_000.0},
    {"name": "2 MP bullet 40°", "width_px": 1920, "height_px": 1080, "hfov_min_deg": 40.0, "hfov_max_deg": 40.0,
     "codec": "h265", "fps": 15.0, "power_w": 5.0, "price": 1_400_000.0},
    {"name": "4 MP varifocal 2.8–12 mm", "width_px": 2560, "height_px": 1440, "hfov_min_deg": 30.0,
     "hfov_max_deg": 100.0, "zoom_steps": 3, "codec": "h265", "fps": 15.0, "power_w": 8.0, "price": 3_200_000.0},
    {"name": "4K turret 105°", "width_px": 3840, "height_px": 2160, "hfov_min_deg": 105.0, "hfov_max_deg": 105.0,
     "codec": "h265", "fps": 15.0, "power_w": 7.0, "price": 3_800_000.0},
)


class CameraModelRow(Base):
    """A camera model of the catalogue.

    Resolution, field of view (a range for varifocal lenses), stream, power, price.
    """

    __tablename__ = "camera_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    hfov_min_deg: Mapped[float] = mapped_column(Float)
    hfov_max_deg: Mapped[float] = mapped_column(Float)
    zoom_steps: Mapped[int] = mapped_column(Integer, default=1)
    codec: Mapped[str] = mapped_column(String(10), default="h265")
    fps: Mapped[float] = mapped_column(Float, default=15.0)
    #: Datasheet or configured bitrate at `fps`; None: estimated from resolution and codec.
    bitrate_kbps: Mapped[float | None] = mapped_column(Float, nullable=True)
    power_w: Mapped[float] = mapped_column(Float, default=6.0)
    price: Mapped[float] = mapped_column(Float, default=0.0)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def validate(self) -> None:
        """Check every number is in range and the field of view is a proper interval."""
        if not self.name or not self.name.strip() or len(self.name) > 120:
            raise ValidationError("name", "give the model a name of 1 to 120 characters")
        lo: float
        hi: float
        for key, lo, hi in (("width_px", 1, 20000), ("height_px", 1, 20000), ("zoom_steps", 1, 10)):
            value = getattr(self, key)
            if value is not None and not lo <= value <= hi:
                raise ValidationError(key, f"{key} must be between {lo} and {hi}")
        for key, lo, hi in (("hfov_min_deg", 1, 179), ("hfov_max_deg", 1, 179), ("fps", 1, 120),
                            ("power_w", 0, 100), ("price", 0, 1e12), ("bitrate_kbps", 1, 1e6)):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and lo <= value <= hi):
                raise ValidationError(key, f"{key} must be between {lo:g} and {hi:g}")
        if self.hfov_min_deg > self.hfov_max_deg:
            raise ValidationError("hfov_min_deg", "the narrowest field of view is wider than the widest")
        if self.codec not in CODECS:
            raise ValidationError("codec", f"codec must be one of {', '.join(CODECS)}")
        if self.currency is not None and not (len(self.currency) == 3 and self.currency.isalpha()):
            raise ValidationError("currency", "currency is a three-letter ISO 4217 code such as VND or USD")

    def to_dict(self) -> dict[str, Any]:
        """Return the model as the API shows it."""
        return {"id": self.id, **{key: getattr(self, key) for key in _FIELDS}}


def _coerce(data: dict[str, Any]) -> dict[str, Any]:
    """Return the known fields of `data` with their types; ValidationError names a wrong one."""
    unknown = sorted(set(data) - set(_FIELDS) - {"id"})
    if unknown:
        raise ValidationError(unknown[0], f"unknown field {unknown[0]!r}; allowed: {', '.join(_FIELDS)}")
    out: dict[str, Any] = {}
    for key, kind in _FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if value is None and key == "bitrate_kbps":
            out[key] = None
            continue
        if kind is str:
            if not isinstance(value, str):
                raise ValidationError(key, f"{key} must be text")
            out[key] = value.strip()
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValidationError(key, f"{key} must be a number")
        else:
            out[key] = kind(value)
    if "currency" in out:
        out["currency"] = out["currency"].upper()
    return out


def list_camera_models(session: Session) -> list[CameraModelRow]:
    """Return the catalogue by name; an empty catalogue is first filled with the generic profiles."""
    rows = list(session.scalars(select(CameraModelRow).order_by(CameraModelRow.name)))
    if rows:
        return rows
    for model in DEFAULT_MODELS:
        session.add(CameraModelRow(**{"zoom_steps": 1, "currency": "VND", **model}))
    session.flush()
    return list(session.scalars(select(CameraModelRow).order_by(CameraModelRow.name)))


def create_camera_model(session: Session, data: dict[str, Any]) -> CameraModelRow:
    """Add a model to the catalogue (a one-value field of view may be given as `hfov_deg`)."""
    data = dict(data)
    if "hfov_deg" in data:
        data["hfov_min_deg"] = data["hfov_max_deg"] = data.pop("hfov_deg")
    values = _coerce(data)
    for key in ("name", "width_px", "height_px", "hfov_min_deg"):
        if key not in values:
            raise ValidationError(key, f"missing {key!r}")
    values.setdefault("hfov_max_deg", values["hfov_min_deg"])
    values.setdefault("zoom_steps", 1 if values["hfov_min_deg"] == values["hfov_max_deg"] else 3)
    list_camera_models(session)  # the generic profiles first, so adding one model does not hide them
    row = CameraModelRow(**{"codec": "h265", "fps": 15.0, "power_w": 6.0, "price": 0.0, "currency": "VND",
                            **values})
    session.add(row)
    session.flush()
    return row


def update_camera_model(session: Session, model_id: int, data: dict[str, Any]) -> CameraModelRow | None:
    """Change some fields of a model; None when there is no such model."""
    row = session.get(CameraModelRow, model_id)
    if row is None:
        return None
    data = dict(data)
    if "hfov_deg" in data:
        data["hfov_min_deg"] = data["hfov_max_deg"] = data.pop("hfov_deg")
    for key, value in _coerce(data).items():
        setattr(row, key, value)
    session.flush()
    return row


def plan_camera(row: CameraModelRow | dict[str, Any]) -> dict[str, Any]:
    """Return a catalogue model as a camera of the plan input (see plan_input.parse_model)."""
    m = row.to_dict() if isinstance(row, CameraModelRow) else row
    camera: dict[str, Any] = {"model": m["name"], "resolution": [int(m["width_px"]), int(m["height_px"])],
                              "codec": m["codec"], "fps": m["fps"], "power_w": m["power_w"], "price": m["price"]}
    if m["hfov_min_deg"] == m["hfov_max_deg"]:
        camera["hfov_deg"] = m["hfov_min_deg"]
    else:
        camera["hfov_range_deg"] = [m["hfov_min_deg"], m["hfov_max_deg"]]
        camera["zoom_steps"] = int(m.get("zoom_steps") or 3)
    if m.get("bitrate_kbps"):
        camera["bitrate_kbps"] = m["bitrate_kbps"]
    return camera
