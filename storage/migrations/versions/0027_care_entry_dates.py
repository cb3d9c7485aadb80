"""a plan's care entries by date (the /care page pages through them)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('care_entries', schema=None) as batch_op:
        batch_op.create_index('ix_care_entries_plan_date', ['plan_id', 'on_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('care_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_care_entries_plan_date')
