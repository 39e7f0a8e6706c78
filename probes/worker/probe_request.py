"""A /probe request's parameters, checked: bounds, helpers and the error a bad request raises.

Shared by the /probe service (:mod:`sitescout.probes.worker.probe_service`) and each kind's
request builder (:mod:`sitescout.probes.worker.kinds`).
"""

from __future__ import annotations

import ipaddress
import math
import socket

from sitescout.probes.errors import ProbeRequestError  # defined with the package's other errors; kept importable here

__all__ = ["MAX_COUNT", "MAX_INTERVAL_S", "MAX_PROFILE_CHARS", "MAX_TARGET_CHARS", "ProbeRequestError",
           "check_ip", "float_param", "int_param", "shown"]

MAX_TARGET_CHARS = 2048
MAX_PROFILE_CHARS = 128
MAX_COUNT = 100
MAX_INTERVAL_S = 5.0


def shown(value: str) -> str:
    """Return `value` quoted for an error message, cut at 40 characters."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """Return the integer parameter `name` (`default` when absent), checked against [low, high]."""
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ProbeRequestError(f"{name}: must be an integer {low}-{high}, not {shown(text)}")
    return value


def float_param(params: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    """Return the number of seconds `name` (`default` when absent), checked against [low, high]."""
    text = params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails too
        raise ProbeRequestError(f"{name}: must be a number of seconds {low:g}-{high:g}, not {shown(text)}")
    return value


def check_ip(text: str) -> str:
    """Return `text` as a canonical IP address, or raise ProbeRequestError."""
    try:
        socket.inet_pton(socket.AF_INET, text)  # the common case, cheaply: a canonical IPv4 address
        return text
    except OSError:
        pass
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ProbeRequestError(f"target: must be an IP address, not {shown(text)}") from None
