"""What was still English in the command and the API: saved-plan and shard refusals, the ``[snmp]`` table of
the credentials file, the DORI level names, and an inventory database that cannot be opened.

Each is kept as a code with parameters (:class:`~sitescout.inventory.errors.Coded`) and said at the edge:
the command runs as a user runs it (``python -m sitescout``, LANG as the shell sets it, or ``--lang en``)
and the API answers in the request's language.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sitescout.import_words import WORDS
from sitescout.inventory.db import open_database
from sitescout.inventory.planning.plans import PlanError, find_site, save_plan
from sitescout.inventory.shards import ShardError, parse_shard
from sitescout.web import create_app
from sitescout.web.errors import API_WORDS, api_body

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
VI_ENV = "vi_VN.UTF-8"
SECRET = "c0mmunity-Đồng-Bùa"


def _run(*args: str, lang: str = VI_ENV) -> subprocess.CompletedProcess[str]:
    """Run the command as a user does: Vietnamese from LANG, English when `args` carry --lang en."""
    env = {"PATH": "/usr/bin:/bin", "LANG": lang}
    return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def _both(*args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return _run(*args), _run("--lang", "en", *args)


def _clean(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


# --- saved plans (inventory/planning/plans.py) --------------------------------------------------------------


@pytest.fixture()
def inventory(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    open_database(url).close()
    return url


def test_a_site_the_plan_cannot_be_saved_for_is_said_in_both_languages(inventory: str) -> None:
    vi, en = _both("plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "1",
                   "--site", "Thôn Không Có", "--db", inventory)
    assert _clean(vi, 1) == ("sitescout plan: lỗi: --site: danh mục không có điểm nào tên 'Thôn Không Có'; hãy tạo "
                             "điểm đó hoặc nhập id của nó")
    assert _clean(en, 1) == ("sitescout plan: error: --site: no site named 'Thôn Không Có' in the inventory; create "
                             "it or give its id")
    vi = _run("plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "1", "--site", "42",
              "--db", inventory)
    assert _clean(vi, 1) == "sitescout plan: lỗi: --site: không có điểm nào mang id 42"


def test_plan_refusals_keep_a_code_the_api_says_in_the_reader_s_language(inventory: str) -> None:
    database = open_database(inventory)
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64})
    try:
        with database.session() as session:
            refusals = []
            for call in (lambda: find_site(session, "Thôn Không Có"), lambda: find_site(session, 7),
                         lambda: save_plan(session, 7, {}, name="x")):
                with pytest.raises(PlanError) as refused:
                    call()
                refusals.append(refused.value.message)
        with pytest.raises(PlanError) as refused:
            from sitescout.inventory.planning.plans import _cameras  # the rule a plan document is checked by

            _cameras({"type": "FeatureCollection", "features": [{"properties": {"kind": "camera"}}]})
        refusals.append(refused.value.message)
        assert [r.code for r in refusals] == ["no_site_named", "no_site", "no_site", "camera_not_point"]
        said = {}
        for lang, header in (("vi", "vi-VN,vi;q=0.9"), ("en", "en-GB")):
            with app.test_request_context("/api/v1/plans/1/design", headers={"Accept-Language": header}):
                said[lang] = [api_body(400, r)["message"] for r in refusals]
        assert said["en"] == ["No site is named 'Thôn Không Có' in the inventory; create it or give its id.",
                              "No site has the id 7.", "No site has the id 7.",
                              "features[0]: a camera needs a Point geometry."]
        assert said["vi"] == ["Danh mục không có điểm nào tên 'Thôn Không Có'; hãy tạo điểm đó hoặc nhập id của nó.",
                              "Không có điểm nào mang mã số 7.", "Không có điểm nào mang mã số 7.",
                              "features[0]: camera phải có geometry kiểu Point."]
    finally:
        database.close()


# --- shards (inventory/shards.py): the worker's --shard and /sd/prometheus?shard= ---------------------------


def test_a_bad_shard_option_is_said_in_both_languages(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yml"
    vi, en = _both("worker", "--targets", str(targets), "--shard", "3/2")
    assert _clean(vi, 2) == "sitescout worker: lỗi: --shard 3/2: hãy nhập K/N với K từ 1 đến N (N tối đa 10000)"
    assert _clean(en, 2) == "sitescout worker: error: --shard 3/2: give K/N with K between 1 and N (N at most 10000)"
    vi = _run("worker", "--targets", str(targets), "--shard", "một")
    assert _clean(vi, 2) == "sitescout worker: lỗi: --shard phải có dạng K/N (ví dụ 1/2), không phải 'một'"


def test_a_bad_shard_query_answers_with_a_code_in_the_reader_s_language(inventory: str) -> None:
    from sitescout.inventory import store

    database = open_database(inventory)
    with database.session() as session:
        worker = {"Authorization": f"Bearer {store.create_token(session, 'worker')}"}
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64})
    try:
        client = app.test_client()
        answers = [client.get("/sd/prometheus?shard=5/4", headers={**worker, "Accept-Language": lang})
                   for lang in ("vi-VN,vi;q=0.9", "en-GB")]
        assert [a.status_code for a in answers] == [400, 400]
        vi, en = (a.get_json() for a in answers)
        assert vi["code"] == en["code"] == "shard_range"
        assert vi["params"] == {"name": "shard", "value": "5/4", "most": 10000}
        assert en["message"] == "shard 5/4: give K/N with K between 1 and N (N at most 10000)."
        assert vi["message"] == "shard 5/4: hãy nhập K/N với K từ 1 đến N (N tối đa 10000)."
    finally:
        database.close()


def test_the_worker_and_the_targets_api_share_one_shard_rule() -> None:
    from sitescout.probes.worker.records import parse_shard as worker_parse_shard

    assert worker_parse_shard("2/5") == parse_shard("2/5")
    for bad in ("0/2", "3/2", "x", "1/10001"):
        with pytest.raises(ShardError):
            worker_parse_shard(bad)


# --- the [snmp] table of the credentials file (probes/credentials.py) ----------------------------------------


@pytest.mark.parametrize("text,vi,en", [
    (f'[snmp]\ncommunity = "{SECRET}"\n', "[snmp]: khóa không có: community",
     "[snmp]: unknown key(s) community"),
    ('[snmp]\nmax_attempts = 9\n', "[snmp]: 'max_attempts' phải là số nguyên từ 1 đến 5",
     "[snmp]: 'max_attempts' must be an integer from 1 to 5"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.7/24"\ncommunities = ["{SECRET}"]\n',
     "mục [[snmp.scope]] thứ 1: 'network' phải là một dải mạng kèm độ dài tiền tố",
     "[[snmp.scope]] entry 1: 'network' must be a network address with its prefix length"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\n[[snmp.scope.v3]]\nusername = "ops"\nauth_key = "{SECRET[:6]}"\n',
     "mục [[snmp.scope]] thứ 1, [[snmp.scope.v3]] thứ 1 (username 'ops'): 'auth_key' phải là chuỗi dài ít nhất 8 ký tự",
     "[[snmp.scope]] entry 1, [[snmp.scope.v3]] entry 1 (username 'ops'): 'auth_key' must be a string of at least 8 "
     "characters"),
    (f'[[snmp.v3]]\nusername = "o"\nauth_key = "{SECRET}"\npriv_protocol = "ROT13"\n',
     "mục [[snmp.v3]] thứ 1: 'priv_protocol' phải là một trong AES, AES-256, DES",
     "[[snmp.v3]] entry 1: 'priv_protocol' must be one of AES, AES-256, DES"),
])
def test_a_bad_snmp_table_is_said_in_both_languages_without_its_secrets(tmp_path: Path, text: str, vi: str,
                                                                       en: str) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(text, encoding="utf-8")
    said = _both("survey", "--site", "Thôn Đồng Bùa", "--network", "127.0.0.1/32", "--credentials", str(path))
    for done, words, error in zip(said, (vi, en), ("lỗi", "error")):
        line = _clean(done, 2)
        assert line.startswith(f"sitescout survey: {error}: --credentials: {path}: {words}"), line
        assert SECRET not in done.stderr and SECRET[:6] not in done.stderr


# --- DORI level names (sitescout plan dori) ---------------------------------------------------------------


def test_dori_levels_are_named_in_the_glossary_s_words() -> None:
    vi, en = _both("plan", "dori", "--resolution", "1920", "--hfov", "90", "--all")
    assert vi.returncode == en.returncode == 0, (vi.stderr, en.stderr)
    levels = [re.split(r" {2,}", line)[0] for line in vi.stdout.splitlines()[2:]]
    assert levels == ["Kiểm tra chi tiết", "Nhận dạng", "Nhận biết", "Quan sát", "Phát hiện", "Giám sát chung"]
    assert [line.split()[0] for line in en.stdout.splitlines()[2:]] == ["Inspect", "Identify", "Recognise", "Observe",
                                                                       "Detect", "Monitor"]
    widths = {line.index(line.split()[-3]) for line in vi.stdout.splitlines()[1:]}  # the columns still line up
    assert len({len(line) for line in vi.stdout.splitlines()[1:]}) == 1, vi.stdout
    assert widths
    newer = _run("plan", "dori", "--resolution", "1920", "--hfov", "90", "--profile", "iec62676-4:2025")
    assert "Toàn cảnh" in newer.stdout and "Soi chi tiết" in newer.stdout and "Overview" not in newer.stdout
    as_json = _run("plan", "dori", "--resolution", "1920", "--hfov", "90", "--json")
    assert '"level": "Identify"' in as_json.stdout  # the JSON keeps the standard's names


def test_an_unknown_dori_profile_is_said_in_both_languages() -> None:
    vi, en = _both("plan", "dori", "--resolution", "1920", "--hfov", "90", "--profile", "iec2099")
    assert _clean(vi, 2) == ("sitescout plan: lỗi: không có bộ ngưỡng DORI 'iec2099'; hãy dùng một trong: "
                             "iec62676-4:2014, iec62676-4:2025")
    assert _clean(en, 2).endswith("error: unknown DORI profile 'iec2099'; use one of: iec62676-4:2014, "
                                  "iec62676-4:2025")


# --- an inventory database that cannot be opened (inventory/db.py open_database) -------------------------------


def _newer(tmp_path: Path) -> Path:
    path = tmp_path / "newer.sqlite3"
    open_database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    return path


@pytest.mark.parametrize("make,vi,en", [
    (lambda tmp: (tmp / "hostname").write_text("field-laptop\n") and tmp / "hostname",
     "{path} không phải cơ sở dữ liệu SQLite (không phải danh mục)", "{path} is not a SQLite database"),
    (lambda tmp: tmp, "{path} là một thư mục, không phải tệp cơ sở dữ liệu", "{path} is a folder, not a database file"),
    (_newer, "chứa danh mục của một phiên bản sitescout mới hơn (schema 0099_from_the_future; bản này chỉ biết đến ",
     "holds an inventory of a newer sitescout (schema 0099_from_the_future; this one knows up to "),
])
def test_a_database_that_is_not_an_inventory_is_one_catalogued_line(tmp_path: Path, make: Any, vi: str,
                                                                    en: str) -> None:
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    for command in (("users", "list"), ("export", "sites")):
        said = _both(*command, "--db", f"sqlite:///{path}")
        for done, words, check in zip(said, (vi, en), ("hãy kiểm tra --db", "check --db")):
            line = _clean(done, 1)
            assert words.format(path=path) in line and line.endswith(check), line
    if before is not None and not path.name.startswith("newer"):
        assert path.read_bytes() == before  # nothing was written into a file that is not ours


def test_an_unreadable_database_file_is_refused_before_sqlite_opens_it(tmp_path: Path) -> None:
    """As root every file is readable: a name the system refuses to open (too long) stands for one that cannot
    be read; it used to end in a traceback from SQLite's folder check."""
    path = tmp_path / ("x" * 300)
    vi, en = _both("users", "list", "--db", f"sqlite:///{path}")
    assert _clean(vi, 1).startswith(f"sitescout users: lỗi: không đọc được {path}: ")
    assert _clean(en, 1).startswith(f"sitescout users: error: cannot read {path}: File name too long")


# --- every code is said ------------------------------------------------------------------------------------


def _codes(relative: str) -> set[str]:
    text = (ROOT / relative).read_text(encoding="utf-8")
    return set(re.findall(r'(?:Coded\(\s*|_bad\([^,]+,\s*)"(\w+)"', text))


def test_every_code_these_refusals_make_has_words_in_the_command_and_the_api() -> None:
    made = {name: _codes(name) for name in ("inventory/planning/plans.py", "inventory/shards.py", "inventory/db.py",
                                            "probes/credentials.py", "inventory/planning/plan_input.py",
                                            "inventory/planning/dori.py", "probes/net/interfaces.py",
                                            "probes/worker/exporter.py", "probes/worker/probe_service.py")}
    assert all(made.values()), made
    # cmd_plan._too_far says plan_too_far with the locale's decimal separator; field_problem is "key: problem"
    said_apart = {"plan_too_far", "field_problem"}
    missing = sorted(code for codes in made.values() for code in codes - said_apart if code not in WORDS)
    assert not missing, f"codes without words in src/sitescout/import_words.py WORDS: {missing}"
    api = made["inventory/planning/plans.py"] | made["inventory/shards.py"] | made["inventory/planning/plan_input.py"]
    api |= made["inventory/planning/dori.py"]
    assert not sorted(api - set(API_WORDS)), "codes the API can answer with but has no words for (web/errors.py)"


# --- the plan input (inventory/planning/plan_input.py): `plan place --input` and POST …/plans ---------------


def _input(tmp_path: Path, change: Any) -> Path:
    import json
    import shutil

    doc = json.loads((EXAMPLES / "plan_village.json").read_text(encoding="utf-8"))
    shutil.copy(EXAMPLES / doc["obstacles"], tmp_path / doc["obstacles"])
    change(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("change,vi,en", [
    (lambda d: d["demand"][0].update(level="Watch"),
     ".level: không có mức DORI 'Watch' trong bộ ngưỡng iec62676-4:2014; hãy dùng một trong: Monitor, Detect",
     ".level: unknown DORI level 'Watch' for profile iec62676-4:2014; use one of: Monitor, Detect"),
    (lambda d: d["mounts"][0].update(power="solar"), ".power: một trong poe, mains, none",
     ".power: one of poe, mains, none"),
    (lambda d: d.update(mounts=[]), "--input: mounts: cần ít nhất một vị trí lắp dự kiến",
     "--input: mounts: at least one candidate mount is needed"),
    (lambda d: d["mounts"][0].update(height_m=-2), ".height_m: phải ít nhất là 0", ".height_m: must be at least 0"),
])
def test_a_bad_plan_input_is_said_in_both_languages(tmp_path: Path, change: Any, vi: str, en: str) -> None:
    path = _input(tmp_path, change)
    said_vi, said_en = _both("plan", "place", "--input", str(path), "--k", "1")
    assert vi in _clean(said_vi, 2) and "lỗi: --input: " in said_vi.stderr, said_vi.stderr
    assert en in _clean(said_en, 2), said_en.stderr


def test_a_bad_plan_input_answers_the_api_with_a_code_in_the_reader_s_language(inventory: str) -> None:
    import json

    from sitescout.inventory import store

    database = open_database(inventory)
    with database.session() as session:
        editor = {"Authorization": f"Bearer {store.create_token(session, 'editor')}"}
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64})
    try:
        client = app.test_client()
        region = client.post("/api/v1/regions", json={"name": "Tuyên Quang"}, headers=editor).get_json()["id"]
        commune = client.post("/api/v1/communes", json={"name": "Xã Hùng Lợi", "region_id": region},
                              headers=editor).get_json()["id"]
        site = client.post("/api/v1/sites", json={"name": "Thôn Đồng Bùa", "commune_id": commune},
                           headers=editor).get_json()["id"]
        doc = json.loads((EXAMPLES / "plan_village.json").read_text(encoding="utf-8"))
        doc["obstacles"] = json.loads((EXAMPLES / doc["obstacles"]).read_text(encoding="utf-8"))
        doc["mounts"][0]["power"] = "solar"
        answers = [client.post(f"/api/v1/sites/{site}/plans?k=1", json=doc,
                               headers={**editor, "Accept-Language": lang}) for lang in ("vi-VN,vi;q=0.9", "en-GB")]
        assert [a.status_code for a in answers] == [400, 400], answers[0].text
        vi, en = (a.get_json() for a in answers)
        assert vi["code"] == en["code"] == "plan_power"
        assert vi["message"].endswith(".power: một trong poe, mains, none"), vi
        assert en["message"].endswith(".power: one of poe, mains, none"), en
    finally:
        database.close()
