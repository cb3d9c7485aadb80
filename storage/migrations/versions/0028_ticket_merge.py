"""tickets.merged_into_id: a ticket an officer merged into another

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('merged_into_id', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))
        batch.create_foreign_key(op.f('fk_tickets_merged_into_id_tickets'), 'tickets',
                                 ['merged_into_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_constraint(op.f('fk_tickets_merged_into_id_tickets'), type_='foreignkey')
        batch.drop_column('merged_into_id')
