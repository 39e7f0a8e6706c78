"""Web hygiene (issue 11 §3-4): server-side login sessions, a site scope per API token, and no
observation or device health stamped in the future (a worker token posted 9999-12-31 "ok").

Revision ID: 0003_webhyg
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = '0003_webhyg'
down_revision = '0002'
branch_labels = None
depends_on = None

#: As inventory.observations.MAX_CLOCK_SKEW when this was written (a migration keeps its own copy:
#: it must do the same thing whatever the code becomes later).
_SKEW = timedelta(minutes=5)


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_sha256', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sites', sa.JSON(), nullable=True))
    _drop_future_rows()


def _drop_future_rows() -> None:
    """Delete observations and latest-health rows stamped after now (+ skew): they would outrank every real one."""
    bind = op.get_bind()
    limit = datetime.now(timezone.utc) + _SKEW
    if bind.dialect.name == 'sqlite':  # UtcDateTime stores naive UTC text there
        limit = limit.replace(tzinfo=None)
    observations = sa.table('observations', sa.column('observed_at', sa.DateTime(timezone=True)))
    health = sa.table('device_health', sa.column('observed_at', sa.DateTime(timezone=True)))
    bind.execute(observations.delete().where(observations.c.observed_at > limit))
    bind.execute(health.delete().where(health.c.observed_at > limit))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('sites')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')
