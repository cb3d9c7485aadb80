"""warranty register (products delivered to accounts, maintenance visits) and the knowledge
base's articles

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0026'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'warranty_items',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('customer_id', BigId, nullable=True),
        sa.Column('model', sa.String(length=100), nullable=False),
        sa.Column('model_key', sa.String(length=100), nullable=False),
        sa.Column('serial', sa.String(length=100), nullable=False),
        sa.Column('delivered_on', sa.Date(), nullable=False),
        sa.Column('warranty_months', sa.Integer(), nullable=False),
        sa.Column('maintenance_months', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_warranty_items_customer_id_customers'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_warranty_items')),
        sa.UniqueConstraint('serial', name=op.f('uq_warranty_items_serial')),
    )
    with op.batch_alter_table('warranty_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_warranty_items_customer_id'), ['customer_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_warranty_items_model_key'), ['model_key'],
                              unique=False)
    op.create_table(
        'maintenance_visits',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('item_id', BigId, nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('ticket_id', BigId, nullable=True),
        sa.Column('done_on', sa.Date(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['warranty_items.id'],
                                name=op.f('fk_maintenance_visits_item_id_warranty_items'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'],
                                name=op.f('fk_maintenance_visits_ticket_id_tickets'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_visits')),
        sa.UniqueConstraint('item_id', 'due_on', name='uq_maintenance_visits_item_due'),
    )
    op.create_table(
        'kb_articles',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('slug', sa.String(length=200), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('published', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('updated_by', BigId, nullable=True),
        sa.ForeignKeyConstraint(['updated_by'], ['staff.id'],
                                name=op.f('fk_kb_articles_updated_by_staff'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles')),
        sa.UniqueConstraint('slug', name=op.f('uq_kb_articles_slug')),
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_articles_category'), ['category'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_articles_category'))
    op.drop_table('kb_articles')
    op.drop_table('maintenance_visits')
    with op.batch_alter_table('warranty_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_warranty_items_model_key'))
        batch_op.drop_index(batch_op.f('ix_warranty_items_customer_id'))
    op.drop_table('warranty_items')
