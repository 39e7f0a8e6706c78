"""The workbench's per-process caches (parsed input, mount verdicts, coverage columns, wedges, unusable mounts)
answer every camera move exactly as a full evaluation from scratch does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_plan_workbench import village_design
from sitescout.inventory.db import open_database
from sitescout.inventory.planning import catalogue, workbench
from sitescout.inventory.planning.plan_cost import DEFAULT_LIMITS
from sitescout.inventory.planning.plan_input import parse_plan_input
from sitescout.inventory.planning.plan_io import plan_geojson

LAT, LON = 21.7312, 105.3128


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> dict[str, Any]:
    database = open_database(f"sqlite:///{tmp_path_factory.mktemp('wb-cache') / 'inventory.sqlite3'}")
    with database.session() as session:
        cameras = [catalogue.plan_camera(row) for row in catalogue.list_camera_models(session)]
    database.close()
    design = village_design(LAT, LON, pois=40, mounts=12, buildings=8)
    state = workbench.design_state(design, cameras, site_name="cache", site=(LAT, LON))
    answer = workbench.optimise_input(state["input"], 4, None, 1.0, DEFAULT_LIMITS)
    return workbench.optimised_state(state, answer, 4, None)["workbench"]


def _from_scratch(state: dict[str, Any]) -> dict[str, Any]:
    """The plan of a state computed with no cache: parse, check every mount, build every column and wedge."""
    inp = parse_plan_input(state["input"], Path("/nonexistent"), limits=DEFAULT_LIMITS)
    result = workbench.evaluate_layout(inp, state["layout"], bound=state["bound"], k=state["k"],
                                       budget=state["budget"], switch_at=tuple(state["switch"]))
    geojson = plan_geojson(result)
    geojson["plan"].update(workbench.layout_summary(result))
    return geojson


def _comparable(geojson: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    plan = {k: v for k, v in geojson["plan"].items() if k != "timings_s"}
    return geojson["features"], plan


def test_cached_moves_answer_as_a_full_evaluation(solved) -> None:
    state = dict(solved)
    first = state["layout"][0]
    models = sorted({cam["model"] for cam in state["layout"]})
    changes = [{"heading_deg": (first["heading_deg"] + 90) % 360},
               {"lat": first["lat"] + 0.0002, "lon": first["lon"] - 0.0001},
               {"heading_deg": (first["heading_deg"] + 45) % 360},
               {"lat": first["lat"], "lon": first["lon"]},  # back on its mount: its cached column again
               {"model": models[-1]}]
    objectives: set[str] = set()
    for change in changes:
        layout = [dict(cam) for cam in state["layout"]]
        layout[0].update(change)
        if "model" in change:
            layout[0].pop("hfov_deg", None)
        state = {**state, "layout": layout}
        cached = workbench.evaluate_state(state, DEFAULT_LIMITS)
        assert _comparable(cached) == _comparable(_from_scratch(state)), change
        again = workbench.evaluate_state(state, DEFAULT_LIMITS)  # every part now from the caches
        assert _comparable(again) == _comparable(cached), change
        objectives.add(repr([f["geometry"] for f in cached["features"] if f["properties"].get("camera_id") == "cam-01"
                             and f["properties"]["kind"] == "coverage"]))
    assert len(objectives) == len(changes)  # every move changed what the moved camera covers


def test_answers_do_not_share_properties(solved) -> None:
    """A reader adds words to an answer's properties; the next answer from the caches has none of them."""
    first = workbench.evaluate_state(dict(solved), DEFAULT_LIMITS)
    for feature in first["features"]:
        feature["properties"]["reasons_text"] = ["changed by a reader"]
    second = workbench.evaluate_state(dict(solved), DEFAULT_LIMITS)
    assert not any("reasons_text" in f["properties"] for f in second["features"])
