"""forecast overrides record the API key that made them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:15:00

Nullable columns (rows from before have no key), without foreign keys: the audit keeps the key as it was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OVERRIDE_COLUMNS = ("key", "reverted_key")


def upgrade() -> None:
    with op.batch_alter_table("forecast_overrides", schema=None) as batch_op:
        for prefix in OVERRIDE_COLUMNS:
            batch_op.add_column(sa.Column(f"{prefix}_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column(f"{prefix}_name", sa.String(length=128), nullable=True))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("key_name", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("key_name")
        batch_op.drop_column("key_id")
    with op.batch_alter_table("forecast_overrides", schema=None) as batch_op:
        for prefix in reversed(OVERRIDE_COLUMNS):
            batch_op.drop_column(f"{prefix}_name")
            batch_op.drop_column(f"{prefix}_id")
