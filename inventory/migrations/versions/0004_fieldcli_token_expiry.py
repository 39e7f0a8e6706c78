"""Token expiry (issue 13, tokens API): an API token may carry an `expires_at` after which it is refused.

Revision ID: 0004_fieldcli
Revises: 0003_webhyg
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_fieldcli'
down_revision = '0003_webhyg'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
