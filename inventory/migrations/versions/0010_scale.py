"""observation_latest (each device's newest observation of each kind, filled from the stored observations);
the severities a site contact wants to hear about.

Revision ID: 0010_scale
Revises: 0009_planner
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

from sitescout.inventory.models import UtcDateTime

revision = '0010_scale'
down_revision = '0009_planner'
branch_labels = None
depends_on = None

#: inventory.observations.MAX_CLOCK_SKEW: a row stamped later than this is not plausible and never counted.
_MAX_CLOCK_SKEW = timedelta(minutes=5)


def upgrade() -> None:
    op.create_table('observation_latest',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('health', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_observation_latest_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', 'kind', name=op.f('pk_observation_latest'))
    )
    with op.batch_alter_table('site_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severities', sa.String(length=40), nullable=False,
                                      server_default='critical,warning'))
    bind = op.get_bind()
    reason = ("json_extract(\"values\", '$.reason')" if bind.dialect.name == "sqlite"
              else "(\"values\"->>'reason')")
    fill = sa.text(
        "INSERT INTO observation_latest (device_id, kind, observation_id, observed_at, health, reason) "
        f"SELECT device_id, kind, id, observed_at, health, COALESCE(CAST({reason} AS TEXT), '') FROM ("
        " SELECT o.*, ROW_NUMBER() OVER (PARTITION BY device_id, kind ORDER BY observed_at DESC, id DESC) AS rn"
        " FROM observations o WHERE device_id IS NOT NULL AND observed_at <= :latest) ranked WHERE rn = 1"
    ).bindparams(sa.bindparam("latest", type_=UtcDateTime()))
    bind.execute(fill, {"latest": datetime.now(timezone.utc) + _MAX_CLOCK_SKEW})


def downgrade() -> None:
    with op.batch_alter_table('site_contacts', schema=None) as batch_op:
        batch_op.drop_column('severities')
    op.drop_table('observation_latest')
