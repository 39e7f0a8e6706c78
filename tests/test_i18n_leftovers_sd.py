"""The targets API (/sd/prometheus ?commune=) says a commune it cannot pick in the reader's language, with a code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Commune, Region
from sitescout.inventory.search import fold
from sitescout.web import create_app

VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture()
def env(tmp_path: Path) -> Any:
    db = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with db.session() as session:
        for region_name in ("Tuyên Quang", "Vĩnh Phúc"):
            region = Region(name=region_name, name_folded=fold(region_name))
            session.add(Commune(name="Xã Đạo Viện", name_folded=fold("Xã Đạo Viện"), region=region))
        worker = {"Authorization": f"Bearer {store.create_token(session, 'worker')}"}
    app = create_app({"DATABASE": db, "TESTING": True, "SECRET_KEY": "k" * 64, "SD_CACHE_SECONDS": 30})
    yield app.test_client(), worker
    db.close()


def _both(client: Any, worker: dict[str, str], query: str, status: int) -> tuple[dict[str, Any], dict[str, Any]]:
    answers = []
    for lang in (VI, EN):
        answer = client.get(f"/sd/prometheus{query}", headers={**worker, **lang})
        assert answer.status_code == status, answer.text
        answers.append(answer.get_json())
    return answers[0], answers[1]


def test_no_commune_of_that_name(env) -> None:
    client, worker = env
    vi, en = _both(client, worker, "?commune=X%C3%A3%20Kh%C3%B4ng%20C%C3%B3", 404)
    assert vi["code"] == en["code"] == "no_commune_named" and vi["params"] == {"name": "Xã Không Có"}
    assert en["message"] == "No commune is named 'Xã Không Có': give its id or its name."
    assert vi["message"] == "Không có xã nào tên 'Xã Không Có': hãy nhập id hoặc tên của xã."


def test_two_communes_of_that_name(env) -> None:
    client, worker = env
    vi, en = _both(client, worker, "?commune=xa%20dao%20vien", 400)
    assert vi["code"] == en["code"] == "communes_named"
    assert en["message"].startswith("Several communes are named 'xa dao vien': give the id of one of 1 (Xã Đạo Viện")
    assert vi["message"].startswith("Có nhiều xã cùng tên 'xa dao vien': hãy nhập id của một trong các xã 1 (Xã Đạo")
