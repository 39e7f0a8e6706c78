"""Plans cost what the cost model says, and no more than the limits: refused before solving, capped when solved.

The outside review: a plan POST under 1 MB asked for 2.6 GiB (obstacle vertices and mount
headings were not counted).  Re-created here: an 85 KB input with a 3,000-vertex building made
`make_plan` grow the process by 3.4 GiB (measured; estimate 4.6 GiB); 800 KB of mount headings
asks for far more.  Real app on a real temporary inventory; measurements in fresh processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plan_gen import synthetic_plan
from support import bearer
from web_seed import HD

from sitescout.inventory import store
from sitescout.inventory.planning import plan_input, plan_io
from sitescout.inventory.planning.plan_cost import PlanLimits, PlanTooLarge

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL
TESTS = Path(__file__).resolve().parent
#: The review's class: small bodies that ask for gigabytes.
OBSTACLE_BOMB = dict(area_m=200, spacing_m=1, mounts=10, obstacle_vertices=3000, resolution=3840, mount_ring=0.3)
HEADINGS_BOMB = dict(area_m=200, spacing_m=2, mounts=5, mount_headings=20000, zoom_steps=5, resolution=3840,
                     mount_ring=0.3)


def _vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.parametrize("shape, names", [(OBSTACLE_BOMB, "obstacle"), (HEADINGS_BOMB, "headings")])
def test_small_plan_bodies_asking_for_gigabytes_are_refused_before_solving(app, tokens, site_ids, database,
                                                                          shape, names):
    body = synthetic_plan(**shape)
    assert len(json.dumps(body)) < 1024 * 1024
    rss_before = _vm_rss_kib()
    started = time.monotonic()
    response = app.test_client().post(f"/api/v1/sites/{site_ids[HD]}/plans", json=body,
                                      headers=bearer(tokens["editor"]))
    assert response.status_code == 413, response.text
    message = response.get_json()["error"]
    assert "too large" in message and names in message and "GiB" in message
    assert time.monotonic() - started < 20
    assert 'sitescout_web_refusals_total{kind="plan",reason="cost"} 1.0' in app.test_client().get("/metrics").text
    assert _vm_rss_kib() - rss_before < 200 * 1024, "the server itself must not hold the plan's memory"
    with database.session() as session:
        assert store.get_site(session, site_ids[HD]) is not None
        assert not [d for d in store.list_devices(session, site_id=site_ids[HD]) if d.status == "planned"]


def test_the_cli_refuses_the_same_input(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(synthetic_plan(**OBSTACLE_BOMB)))
    done = subprocess.run([sys.executable, "-m", "sitescout", "plan", "place", "--input", str(path), "--k", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "too large" in done.stderr and "--no-cost-limit" in done.stderr and "Traceback" not in done.stderr


_MEASURE = """
import json, sys
sys.path.insert(0, {tests!r})
from plan_gen import synthetic_plan
from sitescout.inventory.planning import plan_input, plan_io
from sitescout.inventory.planning.plan_cost import PlanLimits, PlanTooLarge

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

doc = synthetic_plan(**json.loads(sys.argv[1]))
inp = plan_input.parse_plan_input(doc, limits=None)
try:
    plan_io.make_plan(inp, 4, time_limit_s=1.0, limits=PlanLimits(max_bytes=0, max_seconds=0))
except PlanTooLarge as err:
    about = str(err).split("about ")[1]
    estimate = float(about.split(" ")[0]) * (2**30 if " GiB" in about[:12] else 2**20)
before = hwm()
result = plan_io.make_plan(inp, 4, time_limit_s=1.0, limits=None)
plan_io.plan_geojson(result)
print(json.dumps({{"estimate": estimate, "measured": hwm() - before, "nnz": int(result.coverage.nnz)}}))
"""


@pytest.mark.parametrize("shape", [
    dict(area_m=300, spacing_m=2, mounts=20, headings=24),  # demand points
    dict(area_m=160, spacing_m=2, mounts=10, obstacle_vertices=1500, resolution=3840, mount_ring=0.3),  # sight
    dict(area_m=150, spacing_m=2, mounts=5, mount_headings=360, zoom_steps=3, resolution=3840, mount_ring=0.3),
])
def test_cost_model_is_an_upper_bound_of_the_measured_peak_and_not_far_above(shape):
    done = subprocess.run([sys.executable, "-c", _MEASURE.format(tests=str(TESTS)), json.dumps(shape)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    estimate, measured = figures["estimate"], figures["measured"]
    # Peak RSS growth of make_plan + plan_geojson in a fresh process (HiGHS included, which tracemalloc misses).
    assert measured <= estimate, figures
    assert estimate <= 4 * measured + 64 * 2**20, figures


def test_a_cost_model_miss_is_stopped_by_the_child_process_memory_cap(app, tokens, site_ids):
    # Pretend the model allows anything; the child's RLIMIT_AS still stops a plan that needs ~300 MiB.
    app.config.update(PLAN_COST_BYTES=2**40, PLAN_MEMORY_BYTES=48 * 2**20)
    client = app.test_client()
    body = synthetic_plan(area_m=160, spacing_m=2, mounts=10, obstacle_vertices=1500, resolution=3840,
                          mount_ring=0.3)
    response = client.post(f"/api/v1/sites/{site_ids[HD]}/plans", json=body, headers=bearer(tokens["editor"]))
    assert response.status_code == 413, response.text
    assert "more memory than allowed" in response.get_json()["error"]
    # The server is fine and still solves what fits.
    app.config.update(PLAN_MEMORY_BYTES=1024 * 2**20)
    small = synthetic_plan(area_m=100, spacing_m=5, mounts=6)
    again = client.post(f"/api/v1/sites/{site_ids[HD]}/plans", json=small, headers=bearer(tokens["editor"]))
    assert again.status_code == 201, again.text


def test_estimate_names_the_mount_with_too_many_headings():
    inp = plan_input.parse_plan_input(synthetic_plan(**HEADINGS_BOMB), limits=None)
    with pytest.raises(PlanTooLarge, match=r"mount 'm\d' alone has 100,000 poses"):
        plan_io.make_plan(inp, 4, limits=PlanLimits())


def test_sampling_is_bounded_before_the_grid_is_built():
    doc = synthetic_plan(area_m=2000, spacing_m=0.5, mounts=4)  # 16 million grid points
    with pytest.raises(PlanTooLarge, match=r"demand\[0\]: about 16,0\d\d,\d{3} sample points"):
        plan_input.parse_plan_input(doc)


def test_plans_beyond_the_concurrency_limit_are_told_to_come_back(app, tokens, site_ids):
    from concurrent.futures import ThreadPoolExecutor

    app.config.update(PLAN_CONCURRENCY=1, PLAN_QUEUE_WAIT_S=0.2)
    body = synthetic_plan(area_m=300, spacing_m=2, mounts=20, headings=24)  # about 1-2 s to solve

    def post(_):
        response = app.test_client().post(f"/api/v1/sites/{site_ids[HD]}/plans?time_limit_s=1.5", json=body,
                                          headers=bearer(tokens["editor"]))
        return response.status_code, response.headers.get("Retry-After")

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(post, range(3)))
    assert sorted(status for status, _ in answers)[0] == 201, answers
    assert any(status == 503 and retry for status, retry in answers), answers
