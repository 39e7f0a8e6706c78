"""``[[snmp.scope]]`` against real agents: a scope's community goes only to the devices of its network.

Two Debian snmpd agents in lab namespaces know the community ``village-ro`` only; the scope
198.51.100.0/25 holds it, the global list holds a wrong one.  The agent inside the scope answers to its
scope's community at the first try (its snmpInBadCommunityNames does not move: the global one was never
sent); the agent outside gets the global community only (one bad community) and is unreachable.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import skip_unless_netns

pytestmark = pytest.mark.netns

INSIDE, OUTSIDE = "198.51.100.3", "198.51.100.130"
COMMUNITY = "village-ro"
BAD_COMMUNITY_NAMES = "1.3.6.1.2.1.11.4.0"


@pytest.fixture
def agents(lab_site: Any, tmp_path: Path) -> Any:
    skip_unless_netns()
    if not all(shutil.which(b) for b in ("snmpd", "snmpget")):
        pytest.skip("needs Debian's snmpd and snmp (tests/run.sh installs them)")
    from sitescout.infra.lab.snmp_agents import AgentSpec, start_agent

    for name, ip in (("inside", INSIDE), ("outside", OUTSIDE)):
        start_agent(lab_site.add_host(name, f"{ip}/24"), AgentSpec(name, ip, community=COMMUNITY), tmp_path / name)
    return lab_site.add_host("scanner", "198.51.100.200/24")


def _bad_communities(scanner: Any, ip: str) -> int:
    cp = scanner.run(["snmpget", "-v2c", "-c", COMMUNITY, "-Oqv", ip, BAD_COMMUNITY_NAMES], timeout=10)
    return int(cp.stdout.strip())


def test_a_scope_community_is_sent_only_inside_its_network(agents: Any, tmp_path: Path) -> None:
    from sitescout.probes.credentials import load_snmp_credentials

    path = tmp_path / "site.toml"
    path.write_text(f'[snmp]\nmax_attempts = 3\ncommunities = ["wrong-global-1"]\n'
                    f'[[snmp.scope]]\nnetwork = "198.51.100.0/25"\ncommunities = ["{COMMUNITY}"]\n')
    creds = load_snmp_credentials(path)  # the file's shape, as the survey and the worker read it
    table = {"communities": [c.community for c in creds.communities], "max_attempts": creds.max_attempts,
             "scope": [{"network": str(s.network), "communities": [c.community for c in s.communities]}
                       for s in creds.scopes]}
    before = {ip: _bad_communities(agents, ip) for ip in (INSIDE, OUTSIDE)}
    request = {"devices": [INSIDE, OUTSIDE], "credentials": table, "settings": {"budget_s": 5, "timeout_s": 0.5}}
    cp = agents.run([sys.executable, "-m", "sitescout.probes.snmp"], input=json.dumps(request), timeout=60)
    assert cp.returncode == 0, cp.stderr[-2000:]
    devices = json.loads(cp.stdout)["devices"]
    inside, outside = devices[INSIDE], devices[OUTSIDE]
    assert inside["error_kind"] is None and inside["credential"] == "v2c" and inside["system"]["sys_name"] == "inside"
    assert outside["error_kind"] == "unreachable" and outside["credential"] is None
    after = {ip: _bad_communities(agents, ip) for ip in (INSIDE, OUTSIDE)}
    assert after[INSIDE] - before[INSIDE] == 0  # the scope's community first: the global one never reached it
    assert after[OUTSIDE] - before[OUTSIDE] == 1  # only the global community; the scope's never left its network
    assert COMMUNITY not in cp.stdout + cp.stderr
