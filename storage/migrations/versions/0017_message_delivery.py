"""message delivery: each outbound message pending, sent (provider ids) or failed (code, reason)

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('delivery_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('delivery_ref', sa.Text(), nullable=True))
        batch.add_column(sa.Column('delivery_code', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('delivery_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('delivery_attempts', sa.Integer(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('delivery_updated_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        for name in ('delivery_updated_at', 'delivery_attempts', 'delivery_reason',
                     'delivery_code', 'delivery_ref', 'delivery_status'):
            batch.drop_column(name)
