"""Pytest fixtures for the virtual lab: `lab_site` and the `requires_netns` skip marker.

Load with ``pytest_plugins = ["sitescout.infra.lab.pytest_plugin"]`` in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from sitescout.infra.lab.netns import LabSite, netns_available

__all__ = ["lab_site", "requires_netns", "skip_unless_netns", "snmp_lab_site"]

_ok, _why = netns_available()

#: Decorate a test that builds namespaces: skipped, with the reason, when not root or no `ip netns`.
requires_netns = pytest.mark.skipif(not _ok, reason=f"needs network namespaces: {_why}")

_stale_checked = False


def skip_unless_netns() -> None:
    """Skip the calling test with a clear reason when namespaces cannot be built."""
    if not _ok:
        pytest.skip(f"needs network namespaces: {_why}")


@pytest.fixture
def lab_site() -> Iterator[LabSite]:
    """Yield an empty LabSite; it is closed (namespaces deleted) even when the test fails."""
    global _stale_checked
    skip_unless_netns()
    if not _stale_checked:
        # Only sites whose owning process has died are removed: parallel runs are safe.
        LabSite.cleanup_stale()
        _stale_checked = True
    site = LabSite()
    try:
        yield site
    finally:
        site.close()


@contextlib.contextmanager
def snmp_lab_site(**build: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(site, lab)``: the SNMP lab (infra/lab/snmp_site.py, ``build`` passed to build_snmp_lab);
    its namespaces are removed even when a test fails.  Skips without namespaces or Debian's snmpd,
    snmp and lldpd (tests/run.sh installs them)."""
    skip_unless_netns()
    if not all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget")):
        pytest.skip("needs Debian's snmpd, snmp and lldpd (tests/run.sh installs them)")
    from sitescout.infra.lab.snmp_site import SnmpLabSite, build_snmp_lab

    LabSite.cleanup_stale()
    site = SnmpLabSite()
    try:
        yield site, build_snmp_lab(site, **build)
    finally:
        site.close()
