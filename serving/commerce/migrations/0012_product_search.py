"""catalogue search: the database's own full text over products, typo-tolerant matching, sort indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 07:00:00

SQLite: `products_fts` (FTS5, porter stemming, prefix indexes) and `products_trgm` (FTS5 trigram tokenizer, for
typos) are external-content tables over `products`, keyed by its rowid and kept in step by triggers; both are
rebuilt here from the rows already present, so a workspace's existing catalogue is searchable after the upgrade.
A rebuild of `products` that renumbers its rowids (VACUUM, a batch ALTER) must be followed by
`serving.commerce.catalog.reindex` (the two tables' `'rebuild'` command).

PostgreSQL: a stored generated `tsvector` column (`search_vector`, English stemming, name and brand weighted
above category above description) with a GIN index, and, when the `pg_trgm` extension may be created, a GIN
trigram index over name, brand and category. Without the extension search still works, without typo tolerance.

Both: indexes for the sorts that need no query (popularity, price).
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

FTS_COLUMNS = ("name", "description", "category", "brand")
TRGM_COLUMNS = ("name", "brand", "category")
TRGM_EXPRESSION = "lower(coalesce(name, '') || ' ' || coalesce(brand, '') || ' ' || coalesce(category, ''))"
VECTOR = (
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(brand, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(category, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'D')"
)


def _sqlite_index(table: str, columns: tuple[str, ...], options: str) -> None:
    """An external-content FTS5 table over `products`, its three triggers, and its index built from the rows."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5({cols}, content='products', content_rowid='rowid', {options})")
    op.execute(
        f"CREATE TRIGGER {table}_ai AFTER INSERT ON products BEGIN "
        f"INSERT INTO {table}(rowid, {cols}) VALUES (new.rowid, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER {table}_ad AFTER DELETE ON products BEGIN "
        f"INSERT INTO {table}({table}, rowid, {cols}) VALUES ('delete', old.rowid, {old}); END"
    )
    # only when a searched column changes: a paid order moving `sold_units` does not touch the index
    op.execute(
        f"CREATE TRIGGER {table}_au AFTER UPDATE OF {cols} ON products BEGIN "
        f"INSERT INTO {table}({table}, rowid, {cols}) VALUES ('delete', old.rowid, {old}); "
        f"INSERT INTO {table}(rowid, {cols}) VALUES (new.rowid, {new}); END"
    )
    op.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")


def _postgresql() -> None:
    op.execute(f"ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({VECTOR}) STORED")
    op.execute("CREATE INDEX ix_products_search ON products USING gin (search_vector)")
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a savepoint: a refused CREATE EXTENSION leaves the migration's transaction usable
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            bind.exec_driver_sql(
                f"CREATE INDEX ix_products_trgm ON products USING gin (({TRGM_EXPRESSION}) gin_trgm_ops)"
            )
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm not available (%s): catalogue search works without typo tolerance", exc.orig)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_index("products_fts", FTS_COLUMNS, "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3'")
        _sqlite_index("products_trgm", TRGM_COLUMNS, "tokenize='trigram', detail='column'")
    elif dialect == "postgresql":
        _postgresql()
    op.create_index("ix_products_popularity", "products", [sa.text("sold_units DESC"), "product_id"])
    op.create_index("ix_products_price", "products", ["price_cents", "product_id"])
    op.create_index("ix_products_price_desc", "products", [sa.text("price_cents DESC"), "product_id"])


def downgrade() -> None:
    op.drop_index("ix_products_price_desc", table_name="products")
    op.drop_index("ix_products_price", table_name="products")
    op.drop_index("ix_products_popularity", table_name="products")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in ("products_trgm", "products_fts"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_products_trgm")
        op.execute("DROP INDEX IF EXISTS ix_products_search")
        op.execute("ALTER TABLE products DROP COLUMN IF EXISTS search_vector")
