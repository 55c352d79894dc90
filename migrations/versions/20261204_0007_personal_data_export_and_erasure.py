"""personal-data export requests, erasure and retention

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


def upgrade():
    pass


def downgrade():
    pass
