"""catalogue details, carts, personal offers, offer discounts and delivery details on orders

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 07:10:00

Products gain brand, tier and description (nullable: `retail db init` fills them from the raw products table) and
a specifications table. Carts are one per customer (unique `customer_id`) or a guest's; offers are single-use codes
bound to a customer. Orders gain the offer discount, the cart they came from and delivery details.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("brand", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("tier", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("sold_units", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_products_category_tier_price", ["category", "tier", "price_cents"], unique=False)
    op.create_table(
        "product_attributes",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.product_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("product_id", "name"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offer_discount_cents", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cart_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("carrier", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("estimated_delivery", sa.DateTime(), nullable=True))
        batch_op.create_check_constraint("ck_orders_offer_discount", "offer_discount_cents >= 0")
        batch_op.create_index(batch_op.f("ix_orders_cart_id"), ["cart_id"], unique=False)
        batch_op.create_index("ix_orders_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_orders_store_created", ["store_id", "created_at"], unique=False)
    op.create_table(
        "carts",
        sa.Column("cart_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.store_id"]),
        sa.PrimaryKeyConstraint("cart_id"),
        sa.UniqueConstraint("customer_id"),
    )
    op.create_table(
        "cart_lines",
        sa.Column("cart_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_cart_lines_quantity"),
        sa.ForeignKeyConstraint(["cart_id"], ["carts.cart_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.product_id"]),
        sa.PrimaryKeyConstraint("cart_id", "product_id"),
    )
    op.create_table(
        "offers",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("discount_pct", sa.Float(), nullable=False),
        sa.Column("cap_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("redeemed_order_id", sa.String(length=40), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_cents", sa.Integer(), nullable=True),
        sa.CheckConstraint("discount_pct > 0 AND discount_pct <= 90", name="ck_offers_pct"),
        sa.CheckConstraint("cap_cents >= 0", name="ck_offers_cap"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"]),
        sa.ForeignKeyConstraint(["product_id"], ["products.product_id"]),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_redeemed_order_id"), ["redeemed_order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("offers")
    op.drop_table("cart_lines")
    op.drop_table("carts")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_store_created")
        batch_op.drop_index("ix_orders_status_created")
        batch_op.drop_index(batch_op.f("ix_orders_cart_id"))
        batch_op.drop_constraint("ck_orders_offer_discount", type_="check")
        batch_op.drop_column("estimated_delivery")
        batch_op.drop_column("tracking_number")
        batch_op.drop_column("carrier")
        batch_op.drop_column("cart_id")
        batch_op.drop_column("offer_discount_cents")
    op.drop_table("product_attributes")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_category_tier_price")
        batch_op.drop_column("sold_units")
        batch_op.drop_column("rating_sum")
        batch_op.drop_column("rating_count")
        batch_op.drop_column("description")
        batch_op.drop_column("tier")
        batch_op.drop_column("brand")
