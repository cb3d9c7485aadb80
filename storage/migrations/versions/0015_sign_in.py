"""sign-in: staff.password_hash, staff.email, staff.name_key; sign_in_failures for the lockout

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('name_key', sa.String(length=200), nullable=True))
    conn = op.get_bind()
    staff = sa.table('staff', sa.column('id', BigId), sa.column('name', sa.String),
                     sa.column('name_key', sa.String))
    for row in conn.execute(sa.select(staff.c.id, staff.c.name)).all():
        key = unicodedata.normalize("NFC", row.name).strip().casefold()
        conn.execute(staff.update().where(staff.c.id == row.id).values(name_key=key))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=200), nullable=False)
        batch_op.create_unique_constraint('uq_staff_email', ['email'])
        batch_op.create_index('ix_staff_name_key', ['name_key'], unique=False)
    op.create_table(
        'sign_in_failures',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=320), nullable=False),
        sa.Column('failed_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_sign_in_failures'),
    )
    op.create_index('ix_sign_in_failures_kind_key_at', 'sign_in_failures',
                    ['kind', 'key', 'failed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sign_in_failures_kind_key_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_name_key')
        batch_op.drop_constraint('uq_staff_email', type_='unique')
        batch_op.drop_column('name_key')
        batch_op.drop_column('email')
        batch_op.drop_column('password_hash')
