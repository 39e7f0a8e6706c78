"""Typed SNMP errors: one base class, a kind a caller can act on, a message built from data."""

from __future__ import annotations

import enum

from sitescout.probes.errors import ProbesError

__all__ = ["SnmpErrorKind", "SnmpError"]


class SnmpErrorKind(enum.Enum):
    """Why a device could not be read.  Only ``AUTH`` asks for other credentials."""

    AUTH = "auth"  # v3 user/key rejected (v2c cannot tell a wrong community from silence)
    UNREACHABLE = "unreachable"  # no answer to any credential
    TIMEOUT = "timeout"  # the device's time budget ran out mid-collection
    MALFORMED = "malformed"  # an answer broke the protocol: OID loop, wrong type, garbage


class SnmpError(ProbesError):
    """An SNMP failure on one device; ``kind`` says which, ``device`` where."""

    def __init__(self, kind: SnmpErrorKind, device: str, detail: str) -> None:
        self.kind, self.device, self.detail = kind, device, detail
        super().__init__(f"{device}: {kind.value}: {detail}")
