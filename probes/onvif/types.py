"""Records and settings of ONVIF interrogation: config, target, result, and the per-camera auth memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sitescout.inventory.health import CLOCK_SKEW_LIMIT_S
from sitescout.probes.models import OnvifInfo
from sitescout.probes.onvif.soap import AuthMethod

__all__ = ["DEFAULT_ONVIF", "AuthMemory", "OnvifConfig", "OnvifResult", "OnvifTarget"]


@dataclass(frozen=True)
class OnvifConfig:
    """Bounds and policy for ONVIF interrogation."""

    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    device_budget_s: float = 20.0
    max_reply_bytes: int = 2 * 1024 * 1024
    max_auth_attempts: int = 3
    clock_skew_finding_s: float = CLOCK_SKEW_LIMIT_S  # the one limit, inventory/health.py
    max_profiles: int = 16
    #: WS-Security PasswordText sends the password in clear to whoever answers: off unless asked for.
    allow_plaintext_auth: bool = False

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "device_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"onvif.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_reply_bytes < 4096:
            raise ValueError(f"onvif.max_reply_bytes must be >= 4096, got {self.max_reply_bytes!r}")
        if not 1 <= self.max_auth_attempts <= 20:
            raise ValueError(f"onvif.max_auth_attempts must be 1..20, got {self.max_auth_attempts!r}")
        if self.max_profiles < 1:
            raise ValueError(f"onvif.max_profiles must be >= 1, got {self.max_profiles!r}")


DEFAULT_ONVIF = OnvifConfig()


@dataclass
class OnvifTarget:
    """One camera to interrogate: its address and the device-service URL chosen from discovery."""

    ip: str
    xaddr: str
    endpoint: str = ""
    scopes: list[str] = field(default_factory=list)
    xaddrs: list[str] = field(default_factory=list)


@dataclass
class OnvifResult:
    """What interrogation learned (None when nothing answered), its errors, and which credential worked."""

    info: OnvifInfo | None
    errors: list[str] = field(default_factory=list)
    #: The ``error_codes`` entry of each of ``errors`` (probes/errors.py), in the same order.
    error_codes: list[dict[str, Any]] = field(default_factory=list)
    credential_used: int | None = None
    auth_method: AuthMethod | None = None
    auth_attempts: int = 0
    requests: int = 0
    duration_s: float = 0.0


class AuthMemory:
    """Remembers, per camera (endpoint or ip), which credential index and method worked."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, AuthMethod]] = {}

    def recall(self, key: str) -> tuple[int, AuthMethod] | None:
        """Return (credential index, method) that last worked for this camera."""
        return self._known.get(key)

    def remember(self, key: str, index: int, method: AuthMethod) -> None:
        """Store what worked for this camera."""
        self._known[key] = (index, method)

    def forget(self, key: str) -> None:
        """Drop what was stored for this camera (it stopped working)."""
        self._known.pop(key, None)
