"""help desk: whether a ticket is open is derived from its state; the open-ticket indexes become
partial indexes over that predicate

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The SQL that `Ticket.is_open` renders; kept literal here, as migrations must not import models.
OPEN_ROWS = "state NOT IN ('closed', 'resolved')"
OPEN_INDEXES = {
    'ix_helpdesk_ticket_open_due': ['next_due_at', 'id'],
    'ix_helpdesk_ticket_assignee_due': ['assignee_id', 'next_due_at', 'id'],
    'ix_helpdesk_ticket_tier_due': ['tier', 'assignee_id', 'next_due_at', 'id'],
    'ix_helpdesk_ticket_open_breached': ['breached_at'],
}
OLD_INDEXES = {
    'ix_helpdesk_ticket_open_due': ['is_open', 'next_due_at', 'id'],
    'ix_helpdesk_ticket_assignee_due': ['assignee_id', 'is_open', 'next_due_at', 'id'],
    'ix_helpdesk_ticket_tier_due': ['tier', 'is_open', 'assignee_id', 'next_due_at', 'id'],
    'ix_helpdesk_ticket_open_breached': ['is_open', 'breached_at'],
}


def upgrade():
    with op.batch_alter_table('helpdesk_ticket', schema=None) as batch_op:
        for name in OPEN_INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column('is_open')
    predicate = sa.text(OPEN_ROWS)
    for name, columns in OPEN_INDEXES.items():
        op.create_index(
            name, 'helpdesk_ticket', columns, postgresql_where=predicate, sqlite_where=predicate
        )


def downgrade():
    for name in OPEN_INDEXES:
        op.drop_index(name, table_name='helpdesk_ticket')
    with op.batch_alter_table('helpdesk_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_open', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute(f"UPDATE helpdesk_ticket SET is_open = ({OPEN_ROWS})")
    with op.batch_alter_table('helpdesk_ticket', schema=None) as batch_op:
        batch_op.alter_column('is_open', server_default=None)
        for name, columns in OLD_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
