"""`sitescout survey --db` stores the survey in the inventory; `--push` sends it to a server; failures lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.scenario import SurveyLab, build_survey_lab
from sitescout.inventory.db import open_database
from sitescout.inventory.store import get_site, list_candidates, list_sites

pytestmark = pytest.mark.netns

SITES_CSV = (
    "region,commune,name,kind,status,latitude,longitude,address,contact,is_demo\n"
    "Tuyên Quang,Hướng Đạo,Thôn Lab,village_hall,active,21.77,105.25,,,false\n"
)


@pytest.fixture(scope="module")
def lab() -> Iterator[SurveyLab]:
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns

    skip_unless_netns()
    with LabSite() as site:
        yield build_survey_lab(site, ["hikvision_ds2cd2012i", "axis_q6045e"], ["switch"])


def _seeded_db(tmp: Path) -> str:
    url = f"sqlite:///{tmp / 'inventory.sqlite3'}"
    (tmp / "sites.csv").write_text(SITES_CSV, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "sitescout", "import", "--kind", "sites", "--db", url,
                             str(tmp / "sites.csv")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return url


def test_survey_stored_in_the_inventory_once(lab: SurveyLab, tmp_path: Path) -> None:
    url = _seeded_db(tmp_path)
    result = lab.survey("--site", "thon lab", "--network", "198.51.100.0/24", "--db", url,
                        "--no-streams", "--json", str(tmp_path / "survey.json"))
    assert result.returncode == 0, result.stderr
    assert "stored as survey" in result.stderr
    # The same document again (say, re-sent from the field) is recognised, not stored twice.
    doc = json.loads((tmp_path / "survey.json").read_text())
    (tmp_path / "again.json").write_text(json.dumps([doc]))
    again = subprocess.run([sys.executable, "-m", "sitescout", "import", "--kind", "surveys", "--db", url,
                            str(tmp_path / "again.json")], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    database = open_database(url)
    with database.session() as session:
        (site,) = list_sites(session)
        assert site.name == "Thôn Lab"
        detail = get_site(session, site.id)
        assert detail is not None and len(detail.surveys) == 1
        # Nothing was curated for this site: every host is a candidate for a person to accept.
        ips = {c.ip for c in list_candidates(session, site_id=site.id)}
    assert ips == {c.ip for c in lab.cameras} | {p.host.ip for p in lab.plain_hosts}


def test_unknown_site_is_refused_before_the_survey_starts(lab: SurveyLab, tmp_path: Path) -> None:
    url = _seeded_db(tmp_path)
    result = lab.scanner.run([sys.executable, "-m", "sitescout", "survey", "--site", "Thon Lob", "--network",
                              "198.51.100.0/24", "--db", url, "--no-streams"], cwd=str(tmp_path), timeout=120)
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "--site 'Thon Lob' matches no site; closest: Thôn Lab (Hướng Đạo, id 1)" in line
    assert not list(tmp_path.glob("survey-*.json"))  # no survey was made, so none had to be kept


def test_push_without_token_is_a_usage_error(lab: SurveyLab) -> None:
    result = lab.survey("--site", "x", "--network", "198.51.100.0/24", "--push", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "--push needs an editor API token" in result.stderr
