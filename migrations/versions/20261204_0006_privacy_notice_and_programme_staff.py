"""privacy notice, consent and programme-staff permission

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signup_privacy_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('version > 0', name=op.f('ck_signup_privacy_notice_version_positive')),
    sa.ForeignKeyConstraint(['programme_id'], ['signup_programme.id'], name=op.f('fk_signup_privacy_notice_programme_id_signup_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_privacy_notice')),
    sa.UniqueConstraint('programme_id', 'version', name=op.f('uq_signup_privacy_notice_programme_id_version'))
    )
    # Existing rows get the defaults (nobody is programme staff until an admin says so; cohort
    # attributes optional), then the columns lose the server default the models do not have.
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('programme_staff', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('programme_staff', server_default=None)
    with op.batch_alter_table('signup_programme', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort_attributes_required', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('signup_programme', schema=None) as batch_op:
        batch_op.alter_column('cohort_attributes_required', server_default=None)
    # Applications made before notices existed keep no version: their owners are shown the
    # programme's first notice at their next visit.
    with op.batch_alter_table('signup_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('privacy_notice_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('privacy_accepted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('signup_application', schema=None) as batch_op:
        batch_op.drop_column('privacy_accepted_at')
        batch_op.drop_column('privacy_notice_version')
    with op.batch_alter_table('signup_programme', schema=None) as batch_op:
        batch_op.drop_column('cohort_attributes_required')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('programme_staff')
    op.drop_table('signup_privacy_notice')
