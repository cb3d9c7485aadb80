"""canned_answers: each queue's ready answers (title, text with placeholders)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'canned_answers',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_by', BigId, nullable=True),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['staff.id'],
                                name=op.f('fk_canned_answers_created_by_staff'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_answers')),
        sa.UniqueConstraint('queue', 'title', name='uq_canned_answers_queue_title'),
    )
    with op.batch_alter_table('canned_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_answers_queue'), ['queue'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('canned_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canned_answers_queue'))
    op.drop_table('canned_answers')
