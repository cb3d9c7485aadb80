"""campaigns: the twice-yearly satisfaction campaign, its invitations and answers; which
accounts are active and which contact answers for an account

Revision ID: 0022
Revises: 0014
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0022'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TOPICS = ("product_quality", "prices_promotions", "delivery", "invoices_documents",
          "warranty_maintenance", "care_staff")


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_contact', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
    op.create_table(
        'campaigns',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('public_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('tier', sa.String(length=16), nullable=True),
        sa.Column('segment', sa.String(length=64), nullable=True),
        sa.Column('send_at', UTCDateTime(), nullable=False),
        sa.Column('remind_days', sa.Integer(), server_default='5', nullable=False),
        sa.Column('state', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('closed_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
        sa.UniqueConstraint('name', name=op.f('uq_campaigns_name')),
        sa.UniqueConstraint('public_id', name=op.f('uq_campaigns_public_id')),
    )
    op.create_table(
        'campaign_invitations',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('public_id', sa.Uuid(), nullable=False),
        sa.Column('campaign_id', BigId, nullable=False),
        sa.Column('contact_id', BigId, nullable=False),
        sa.Column('customer_id', BigId, nullable=True),
        sa.Column('survey_id', BigId, nullable=True),
        sa.Column('ticket_id', BigId, nullable=True),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.Column('reminded_at', UTCDateTime(), nullable=True),
        sa.Column('reminder_token_hash', sa.String(length=64), nullable=True),
        sa.Column('reminder_token_pending', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_invitations_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'],
                                name=op.f('fk_campaign_invitations_contact_id_contacts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_campaign_invitations_customer_id_customers'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'],
                                name=op.f('fk_campaign_invitations_survey_id_surveys'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'],
                                name=op.f('fk_campaign_invitations_ticket_id_tickets'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_invitations')),
        sa.UniqueConstraint('campaign_id', 'contact_id',
                            name='uq_campaign_invitations_campaign_contact'),
        sa.UniqueConstraint('public_id', name=op.f('uq_campaign_invitations_public_id')),
        sa.UniqueConstraint('reminder_token_hash',
                            name=op.f('uq_campaign_invitations_reminder_token_hash')),
        sa.UniqueConstraint('survey_id', name=op.f('uq_campaign_invitations_survey_id')),
    )
    op.create_index(op.f('ix_campaign_invitations_campaign_id'), 'campaign_invitations',
                    ['campaign_id'], unique=False)
    topics = []
    for topic in TOPICS:
        topics += [sa.Column(topic, sa.Integer(), nullable=True),
                   sa.Column(f'{topic}_comment', sa.Text(), nullable=True)]
    op.create_table(
        'campaign_answers',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('invitation_id', BigId, nullable=False),
        sa.Column('campaign_id', BigId, nullable=False),
        sa.Column('overall', sa.Integer(), nullable=False),
        sa.Column('overall_comment', sa.Text(), nullable=True),
        sa.Column('recommend', sa.Integer(), nullable=True),
        *topics,
        sa.Column('answered_at', UTCDateTime(), nullable=False),
        sa.Column('answer_count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_answers_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invitation_id'], ['campaign_invitations.id'],
                                name=op.f('fk_campaign_answers_invitation_id_campaign_invitations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_answers')),
        sa.UniqueConstraint('invitation_id', name=op.f('uq_campaign_answers_invitation_id')),
    )
    op.create_index(op.f('ix_campaign_answers_campaign_id'), 'campaign_answers',
                    ['campaign_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_campaign_answers_campaign_id'), table_name='campaign_answers')
    op.drop_table('campaign_answers')
    op.drop_index(op.f('ix_campaign_invitations_campaign_id'),
                  table_name='campaign_invitations')
    op.drop_table('campaign_invitations')
    op.drop_table('campaigns')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('survey_contact')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('active')
