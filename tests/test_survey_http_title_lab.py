"""`sitescout survey` reads the web page title of hosts with an open web port and classifies them by it (lab).

The SNMP lab (infra/lab/snmp_site.py) plus two plain hosts of infra/lab/hosts.py on sw1: a loudspeaker
controller whose web UI is titled "IP-Speaker Controller" (no SNMP, no SIP), and a Wi-Fi access point whose
"/" redirects to a login page on the same host titled "Wireless Access Point - Login".  The survey runs in the
scanner namespace as a technician would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import snmp_lab_site

pytestmark = pytest.mark.netns

SPEAKER = "198.51.100.40"
ACCESS_POINT = "198.51.100.41"


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sitescout.infra.lab.netns import stop_process_group
    from sitescout.infra.lab.scenario import wait_ready

    with snmp_lab_site() as (site, lab):
        procs: list[subprocess.Popen[str]] = []
        try:
            for name, ip, profile in (("spkweb", SPEAKER, "loudspeaker"), ("wifi", ACCESS_POINT, "wifi_ap")):
                host = site.add_host(name, f"{ip}/24")
                procs.append(host.popen([sys.executable, "-m", "sitescout.infra.lab.hosts", "--ip", ip,
                                         "--profile", profile], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
            wait_ready([(f"plain host {i}", p) for i, p in enumerate(procs)])
            tmp = tmp_path_factory.mktemp("http-title")
            creds = tmp / "site.toml"
            creds.write_text('[snmp]\nmax_attempts = 1\ncommunities = ["lab-ro"]\n')
            report = tmp / "report.html"
            cp = lab.scanner.run([sys.executable, "-m", "sitescout", "--lang", "en", "survey", "--site", "lab",
                                  "--network", "198.51.100.0/24", "--credentials", str(creds), "--json", "-",
                                  "--report", str(report), "--no-streams", "--wait", "1", "--snmp-interval", "0"],
                                 timeout=240)
            assert cp.returncode == 0, cp.stderr[-3000:]
            doc: dict[str, Any] = json.loads(cp.stdout)
            doc["_report"] = report.read_text()
            yield doc
        finally:
            for proc in procs:
                stop_process_group(proc)


def _hosts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["ip"]: h for h in doc["hosts"]}


def test_a_web_ui_title_classifies_a_device_that_answers_nothing_else(survey: dict[str, Any]) -> None:
    speaker = _hosts(survey)[SPEAKER]
    assert speaker["open_ports"] == [80, 8899] and speaker["snmp"] is None
    assert speaker["http"] == {"port": 80, "scheme": "http", "status": 200, "title": "IP-Speaker Controller"}
    assert speaker["device_class"] == {"kind": "loudspeaker", "from": "http_title", "detail": "IP-Speaker Controller"}


def test_a_login_page_behind_a_redirect_on_the_same_host_is_read(survey: dict[str, Any]) -> None:
    ap = _hosts(survey)[ACCESS_POINT]
    assert ap["http"] == {"port": 80, "scheme": "http", "status": 200, "title": "Wireless Access Point - Login"}
    assert ap["device_class"] == {"kind": "access_point", "from": "http_title",
                                  "detail": "Wireless Access Point - Login"}


def test_hosts_without_a_web_port_get_no_title_and_agents_keep_their_own_class(survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    for ip, host in hosts.items():
        if not {80, 443, 8080, 8443, 81, 88, 5000} & set(host["open_ports"]):
            assert host["http"] is None, ip
    assert hosts["198.51.100.3"]["device_class"]["from"] == "fdb"  # sw1: its forwarding table, not a page


def test_the_report_shows_the_title(survey: dict[str, Any]) -> None:
    assert "web page: “IP-Speaker Controller”" in survey["_report"]
    assert "web page: “Wireless Access Point - Login”" in survey["_report"]
