"""The planner's camera catalogue (issue #18, the planners' workbench).

Revision ID: 0009_planner
Revises: 0008_workflow
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_planner'
down_revision = '0008_workflow'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('camera_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('width_px', sa.Integer(), nullable=False),
    sa.Column('height_px', sa.Integer(), nullable=False),
    sa.Column('hfov_min_deg', sa.Float(), nullable=False),
    sa.Column('hfov_max_deg', sa.Float(), nullable=False),
    sa.Column('zoom_steps', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=10), nullable=False),
    sa.Column('fps', sa.Float(), nullable=False),
    sa.Column('bitrate_kbps', sa.Float(), nullable=True),
    sa.Column('power_w', sa.Float(), nullable=False),
    sa.Column('price', sa.Float(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_camera_models')),
    sa.UniqueConstraint('name', name=op.f('uq_camera_models_name'))
    )


def downgrade() -> None:
    op.drop_table('camera_models')
