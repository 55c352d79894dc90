"""personal-data export requests, erasure and retention: the exports waiting for their download,
the record of erasures, and a ticket's requester no longer deleted with the ticket's record

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

REQUESTER_FK = 'fk_helpdesk_ticket_requester_id_user_account'


def _requester_fk(ondelete):
    with op.batch_alter_table('helpdesk_ticket', schema=None) as batch_op:
        batch_op.drop_constraint(REQUESTER_FK, type_='foreignkey')
        batch_op.create_foreign_key(
            REQUESTER_FK, 'user_account', ['requester_id'], ['id'], ondelete=ondelete
        )


def upgrade():
    op.create_table('privacy_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stored_name', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_privacy_export_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_export')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_privacy_export_stored_name'))
    )
    with op.batch_alter_table('privacy_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_export_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_privacy_export_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_privacy_export_state_expires', ['state', 'expires_at'], unique=False)

    op.create_table('privacy_erasure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=40), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_by_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['erased_by_id'], ['user_account.id'], name=op.f('fk_privacy_erasure_erased_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_erasure'))
    )
    with op.batch_alter_table('privacy_erasure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_erasure_pseudonym'), ['pseudonym'], unique=False)

    _requester_fk('RESTRICT')


def downgrade():
    _requester_fk('CASCADE')

    with op.batch_alter_table('privacy_erasure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_erasure_pseudonym'))
    op.drop_table('privacy_erasure')

    with op.batch_alter_table('privacy_export', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_export_state_expires')
        batch_op.drop_index(batch_op.f('ix_privacy_export_user_id'))
        batch_op.drop_index(batch_op.f('ix_privacy_export_email'))
    op.drop_table('privacy_export')
