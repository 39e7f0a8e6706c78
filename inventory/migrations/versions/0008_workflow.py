"""Finding decisions (applied / dismissed, kept across re-reading a survey) and candidate sightings (issue #13).

Revision ID: 0008_workflow
Revises: 0007_api_versions_changes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_workflow'
down_revision = '0007_api_versions_changes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('finding_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('finding_key', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=45), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_finding_decisions_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_finding_decisions_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_decisions')),
    sa.UniqueConstraint('survey_id', 'finding_key', name=op.f('uq_finding_decisions_survey_id_finding_key'))
    )
    with op.batch_alter_table('finding_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_decisions_site_id'), ['site_id'], unique=False)

    op.create_table('candidate_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_candidate_sightings_candidate_id_candidates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_candidate_sightings_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidate_sightings')),
    sa.UniqueConstraint('candidate_id', 'survey_id', name=op.f('uq_candidate_sightings_candidate_id_survey_id'))
    )
    with op.batch_alter_table('candidate_sightings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_sightings_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidate_sightings_survey_id'), ['survey_id'], unique=False)


def downgrade() -> None:
    op.drop_table('candidate_sightings')
    op.drop_table('finding_decisions')
