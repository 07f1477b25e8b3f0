"""points owed by reversed orders, lot expiry kept on give-back, caller-scoped idempotency keys

- `loyalty_accounts.owed`: points a reversed order earned that the customer had already spent.
- `orders.idempotency_scope`: keys are unique per caller (`key:<api key id>` or `customer:<id>`), no longer
  across all callers; existing orders get the scope of the key that placed them.
- `returns`: the same idempotency columns, so a retried return is answered, not recorded twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# 0002 left the key's unique constraint unnamed: PostgreSQL called it this, and SQLite's batch copy needs a name
UNNAMED = {"uq": "%(table_name)s_%(column_0_name)s_key"}

BACKFILL = """
UPDATE orders SET idempotency_scope = COALESCE(
    (SELECT CASE WHEN api_keys.role = 'customer' AND api_keys.customer_id IS NOT NULL
                 THEN 'customer:' || api_keys.customer_id
                 ELSE 'key:' || CAST(api_keys.id AS VARCHAR(20)) END
     FROM api_keys WHERE api_keys.id = orders.created_by),
    '')
WHERE idempotency_key IS NOT NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owed", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint("ck_loyalty_owed", "owed >= 0")

    with op.batch_alter_table("orders", schema=None, naming_convention=UNNAMED) as batch_op:
        batch_op.add_column(sa.Column("idempotency_scope", sa.String(length=80), server_default="", nullable=False))
        batch_op.drop_constraint("orders_idempotency_key_key", type_="unique")
    op.execute(BACKFILL)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_orders_idempotency", ["idempotency_scope", "idempotency_key"])

    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_scope", sa.String(length=80), server_default="", nullable=False))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_returns_idempotency", ["idempotency_scope", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_constraint("uq_returns_idempotency", type_="unique")
        batch_op.drop_column("created_by")
        batch_op.drop_column("request_hash")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("idempotency_scope")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_idempotency", type_="unique")
        batch_op.drop_column("idempotency_scope")
        batch_op.create_unique_constraint("orders_idempotency_key_key", ["idempotency_key"])

    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("ck_loyalty_owed", type_="check")
        batch_op.drop_column("owed")
