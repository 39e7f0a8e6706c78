"""A device's interfaces and the cables between them; devices.snmp_port (issue #15, the inventory's network half).

Every switch and router already in the inventory gets snmp_port 161: the worker read each of them
over SNMP on that port before the column existed, and keeps doing so.

Revision ID: 0011_network
Revises: 0010_scale
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011_network'
down_revision = '0010_scale'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('interfaces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('if_index', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('speed_bps', sa.BigInteger(), nullable=True),
    sa.Column('mac', sa.String(length=17), nullable=True),
    sa.Column('poe', sa.Boolean(), nullable=False),
    sa.Column('uplink', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_interfaces_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interfaces')),
    sa.UniqueConstraint('device_id', 'name', name=op.f('uq_interfaces_device_id_name'))
    )
    with op.batch_alter_table('interfaces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interfaces_device_id'), ['device_id'], unique=False)

    op.create_table('cables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('a_interface_id', sa.Integer(), nullable=False),
    sa.Column('b_interface_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['a_interface_id'], ['interfaces.id'], name=op.f('fk_cables_a_interface_id_interfaces'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['b_interface_id'], ['interfaces.id'], name=op.f('fk_cables_b_interface_id_interfaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cables')),
    sa.UniqueConstraint('a_interface_id', name=op.f('uq_cables_a_interface_id')),
    sa.UniqueConstraint('b_interface_id', name=op.f('uq_cables_b_interface_id'))
    )
    # A plain ALTER TABLE … ADD COLUMN (not batch mode, which copies `devices` and, with foreign keys on,
    # would cascade the drop of the old table to every observation and camera).
    op.add_column('devices', sa.Column('snmp_port', sa.Integer(), nullable=True))
    op.execute("UPDATE devices SET snmp_port = 161 WHERE kind IN ('switch', 'router')")


def downgrade() -> None:
    op.drop_table('cables')
    op.drop_table('interfaces')
    # SQLite has had ALTER TABLE … DROP COLUMN since 3.35 (see 0007 for why not batch mode).
    op.execute('ALTER TABLE devices DROP COLUMN snmp_port')
