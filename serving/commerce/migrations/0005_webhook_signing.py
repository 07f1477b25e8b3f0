"""webhook secrets, dead letters and the time a webhook was added

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:15:00

Webhooks registered before this revision get a fresh secret nobody has seen: `retail webhooks rotate ID` shows
one. They keep `starts_after_id` 0 (they were promised every entry), and nothing is dead-lettered yet.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("starts_after_id", sa.Integer(), server_default="0", nullable=False))
    bind = op.get_bind()
    hooks = sa.table("webhooks", sa.column("id", sa.Integer()), sa.column("secret", sa.String()))
    for (hook_id,) in bind.execute(sa.select(hooks.c.id)).all():
        secret = "whsec_" + secrets.token_hex(24)
        bind.execute(hooks.update().where(hooks.c.id == hook_id).values(secret=secret))
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dead_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_created_at"))
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("starts_after_id")
        batch_op.drop_column("secret")
