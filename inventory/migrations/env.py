"""Alembic environment: runs migrations on the engine sitescout.inventory.db hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sitescout.inventory.models import Base

config = context.config
target_metadata = Base.metadata


def _run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # the alembic command line: sqlalchemy.url from alembic.ini or -x url=
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database URL: set sqlalchemy.url in alembic.ini or pass -x url=URL")
        engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


_run()
