"""Migration 0007 (row versions and the change log) keeps every row, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from web_seed import seed_commune

from sitescout.inventory.db import MIGRATIONS_DIR, Database

_TABLES = ("regions", "communes", "sites", "devices", "camera_details", "observations", "surveys")


def _alembic(database: Database) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = database.engine
    return config


def _counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0) for t in _TABLES}


def test_0007_keeps_every_row_down_and_up_and_starts_every_version_at_1(database: Database) -> None:
    seed_commune(database)
    before = _counts(database)
    assert before["devices"] > 0 and before["camera_details"] > 0
    config = _alembic(database)
    command.downgrade(config, "0006_province_alerts")
    # Batch mode would copy and drop `regions`, and the foreign keys would cascade to every site and device.
    assert _counts(database) == before
    command.upgrade(config, "head")
    assert _counts(database) == before
    with database.engine.connect() as conn:
        for table in ("regions", "communes", "sites", "devices", "camera_details"):
            assert set(conn.execute(text(f"SELECT DISTINCT version FROM {table}")).scalars()) == {1}, table
        assert conn.execute(text("SELECT count(*) FROM changes")).scalar() == 0
