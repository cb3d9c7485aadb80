"""surveys: satisfaction surveys after a resolved ticket; indexes for the reports

Revision ID: 0014
Revises: 0007
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import JSONDoc, UTCDateTime

revision: str = '0014'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'surveys',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('public_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('ticket_id', BigId, nullable=True),
        sa.Column('cycle', sa.Integer(), nullable=False),
        sa.Column('contact_id', BigId, nullable=True),
        sa.Column('customer_id', BigId, nullable=True),
        sa.Column('officer_id', BigId, nullable=True),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('token_pending', sa.String(length=64), nullable=True),
        sa.Column('message_id', BigId, nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('rating', sa.Integer(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('answers', JSONDoc, nullable=False),
        sa.Column('answered_at', UTCDateTime(), nullable=True),
        sa.Column('answer_count', sa.Integer(), nullable=False),
        sa.Column('follow_up_ticket_id', BigId, nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'],
                                name=op.f('fk_surveys_contact_id_contacts'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_surveys_customer_id_customers'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['follow_up_ticket_id'], ['tickets.id'],
                                name=op.f('fk_surveys_follow_up_ticket_id_tickets'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'],
                                name=op.f('fk_surveys_message_id_messages'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['officer_id'], ['staff.id'],
                                name=op.f('fk_surveys_officer_id_staff'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'],
                                name=op.f('fk_surveys_ticket_id_tickets'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys')),
        sa.UniqueConstraint('public_id', name=op.f('uq_surveys_public_id')),
        sa.UniqueConstraint('ticket_id', 'cycle', name='uq_surveys_ticket_cycle'),
        sa.UniqueConstraint('token_hash', name=op.f('uq_surveys_token_hash')),
    )
    op.create_index(op.f('ix_surveys_contact_id'), 'surveys', ['contact_id'], unique=False)
    op.create_index(op.f('ix_surveys_ticket_id'), 'surveys', ['ticket_id'], unique=False)
    op.create_index(op.f('ix_surveys_sent_at'), 'surveys', ['sent_at'], unique=False)
    op.create_index(op.f('ix_surveys_answered_at'), 'surveys', ['answered_at'], unique=False)
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'], unique=False)
    op.create_index('ix_tickets_resolved_at', 'tickets', ['resolved_at'], unique=False)
    op.create_index('ix_tickets_first_responded_at', 'tickets', ['first_responded_at'],
                    unique=False)
    op.create_index('ix_messages_received_at', 'messages', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_messages_received_at', table_name='messages')
    op.drop_index('ix_tickets_first_responded_at', table_name='tickets')
    op.drop_index('ix_tickets_resolved_at', table_name='tickets')
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_index(op.f('ix_surveys_answered_at'), table_name='surveys')
    op.drop_index(op.f('ix_surveys_sent_at'), table_name='surveys')
    op.drop_index(op.f('ix_surveys_ticket_id'), table_name='surveys')
    op.drop_index(op.f('ix_surveys_contact_id'), table_name='surveys')
    op.drop_table('surveys')
