"""care: accounts' founding and opening days, the yearly care plan (its budget lines and
entries, each with its outcome), and ticket kinds (``care`` tasks are not complaints)

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0023'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('founded_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('opened_on', sa.Date(), nullable=True))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='customer',
                                      nullable=False))
    op.create_table(
        'care_plans',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), server_default='draft', nullable=False),
        sa.Column('budget', sa.BigInteger(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('generated_at', UTCDateTime(), nullable=True),
        sa.Column('submitted_at', UTCDateTime(), nullable=True),
        sa.Column('submitted_by', BigId, nullable=True),
        sa.Column('approved_at', UTCDateTime(), nullable=True),
        sa.Column('approved_by', BigId, nullable=True),
        sa.ForeignKeyConstraint(['submitted_by'], ['staff.id'],
                                name=op.f('fk_care_plans_submitted_by_staff'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['approved_by'], ['staff.id'],
                                name=op.f('fk_care_plans_approved_by_staff'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_plans')),
        sa.UniqueConstraint('year', name=op.f('uq_care_plans_year')),
    )
    op.create_table(
        'care_budgets',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('plan_id', BigId, nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['care_plans.id'],
                                name=op.f('fk_care_budgets_plan_id_care_plans'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_budgets')),
        sa.UniqueConstraint('plan_id', 'scope', 'key', name='uq_care_budgets_plan_scope_key'),
    )
    op.create_table(
        'care_entries',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('plan_id', BigId, nullable=False),
        sa.Column('customer_id', BigId, nullable=False),
        sa.Column('occasion', sa.String(length=64), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('gift', sa.String(length=200), nullable=True),
        sa.Column('planned_value', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('officer_id', BigId, nullable=True),
        sa.Column('status', sa.String(length=16), server_default='planned', nullable=False),
        sa.Column('ticket_id', BigId, nullable=True),
        sa.Column('spent', sa.BigInteger(), nullable=True),
        sa.Column('gift_sent', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('customer_words', sa.Text(), nullable=True),
        sa.Column('outcome_at', UTCDateTime(), nullable=True),
        sa.Column('outcome_by', BigId, nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['care_plans.id'],
                                name=op.f('fk_care_entries_plan_id_care_plans'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_care_entries_customer_id_customers'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['officer_id'], ['staff.id'],
                                name=op.f('fk_care_entries_officer_id_staff'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['outcome_by'], ['staff.id'],
                                name=op.f('fk_care_entries_outcome_by_staff'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'],
                                name=op.f('fk_care_entries_ticket_id_tickets'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_entries')),
        sa.UniqueConstraint('plan_id', 'customer_id', 'occasion', 'on_date',
                            name='uq_care_entries_plan_customer_occasion_date'),
    )
    with op.batch_alter_table('care_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_entries_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_entries_on_date'), ['on_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_entries_ticket_id'), ['ticket_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('care_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_entries_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_care_entries_on_date'))
        batch_op.drop_index(batch_op.f('ix_care_entries_plan_id'))
    op.drop_table('care_entries')
    op.drop_table('care_budgets')
    op.drop_table('care_plans')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('opened_on')
        batch_op.drop_column('founded_on')
