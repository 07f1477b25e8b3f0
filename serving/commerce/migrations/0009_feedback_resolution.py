"""feedback can be resolved by customer service, with a note

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 04:30:00

Nullable columns, without foreign keys: feedback stored before is open, and the resolution keeps the API key as it
was (keys are revoked, never deleted). The audit trail of a resolution is an `audit_log` entry (entity "feedback").
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolved_key_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_key_id")
        batch_op.drop_column("resolved_at")
