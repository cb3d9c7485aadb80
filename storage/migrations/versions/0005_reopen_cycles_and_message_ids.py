"""tickets.reopened_at/reopen_count (SLA cycles), sla_events.cycle, messages by external id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopened_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reopen_count', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.drop_constraint('uq_sla_events_ticket_clock_kind', type_='unique')
        batch_op.create_unique_constraint('uq_sla_events_ticket_clock_kind_cycle',
                                          ['ticket_id', 'clock', 'kind', 'cycle'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_channel_external_id', ['channel', 'external_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_channel_external_id')
    op.execute("DELETE FROM sla_events WHERE cycle > 0")  # the old key allows one cycle
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sla_events_ticket_clock_kind_cycle', type_='unique')
        batch_op.create_unique_constraint('uq_sla_events_ticket_clock_kind',
                                          ['ticket_id', 'clock', 'kind'])
        batch_op.drop_column('cycle')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('reopen_count')
        batch_op.drop_column('reopened_at')
