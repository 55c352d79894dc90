"""help desk: signed Slack requests already acted on, remembered while their signature is
fresh, so that a replayed request is answered without acting again

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('helpdesk_slack_request',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_helpdesk_slack_request'))
    )
    with op.batch_alter_table('helpdesk_slack_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_slack_request_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('helpdesk_slack_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_slack_request_expires_at'))
    op.drop_table('helpdesk_slack_request')
