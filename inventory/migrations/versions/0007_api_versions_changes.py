"""Row versions on curated records (the API's ETag / If-Match) and the change log (issue #13, the API branch).

Revision ID: 0007_api_versions_changes
Revises: 0006_province_alerts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_api_versions_changes'
down_revision = '0006_province_alerts'
branch_labels = None
depends_on = None

#: Every existing row starts at version 1 (server default), as a new one does.
_VERSIONED = ('regions', 'communes', 'sites', 'devices', 'camera_details')


def upgrade() -> None:
    for table in _VERSIONED:
        # A plain ALTER TABLE … ADD COLUMN (SQLite takes one with a default): the rows stay where they are.
        op.add_column(table, sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    op.create_table('changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('object_repr', sa.String(length=200), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_changes'))
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_changes_changed_at'), ['changed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_changes_site_id'), ['site_id'], unique=False)
        batch_op.create_index('ix_changes_object', ['object_type', 'object_id'], unique=False)


def downgrade() -> None:
    op.drop_table('changes')
    for table in reversed(_VERSIONED):
        # Not batch mode: on SQLite it copies the table, drops the old one and renames the copy, and with
        # foreign keys on, dropping `regions` cascades to every commune, site and device.  SQLite has had
        # ALTER TABLE … DROP COLUMN since 3.35.
        op.execute(f'ALTER TABLE {table} DROP COLUMN version')
