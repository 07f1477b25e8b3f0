"""catalogue search: the database's own full text over products, typo-tolerant matching, sort indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 07:00:00

SQLite: `products_fts` (FTS5, porter stemming, prefix indexes) is an external-content table over `products`,
keyed by its rowid and kept in step by triggers; it is rebuilt here from the rows already present, so a workspace's
existing catalogue is searchable after the upgrade. `products_fts_vocab` (fts5vocab) lists its words, from which a
misspelt word is corrected. A rebuild of `products` that renumbers its rowids (VACUUM, a batch ALTER) must be
followed by `serving.commerce.catalog.reindex` (FTS5's `'rebuild'` command).

PostgreSQL: a stored generated `tsvector` column (`search_vector`, English stemming, name and brand weighted
above category above description) with a GIN index; `product_words`, every word of the catalogue (kept by a
trigger, filled here from the rows present; words of removed products stay, harmlessly), and, when the `pg_trgm`
extension may be created, a trigram index over it from which a misspelt word is corrected. Without the extension
search still works, without typo tolerance.

Both: indexes for the sorts that need no query (popularity, price) and for the category filter (any case).
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
# the words of a product (unstemmed, lower case), for respelling a query's typos
WORDS = (
    "regexp_split_to_table(lower(concat_ws(' ', {row}name, {row}brand, {row}category, {row}description)), "
    "'[^[:alnum:]]+')"
)
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
    # fastupdate off: a new or updated row goes straight into the index, never into a pending list that every
    # search would scan until the next vacuum (each paid order updates its products' sold_units)
    op.execute("CREATE INDEX ix_products_search ON products USING gin (search_vector) WITH (fastupdate = off)")
    op.execute("CREATE TABLE product_words (word VARCHAR(64) PRIMARY KEY)")
    op.execute(
        "CREATE FUNCTION product_words_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO product_words (word) SELECT DISTINCT w FROM {WORDS.format(row='NEW.')} AS w "
        "WHERE length(w) BETWEEN 3 AND 64 ON CONFLICT (word) DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER products_words AFTER INSERT OR UPDATE OF name, brand, category, description ON products "
        "FOR EACH ROW EXECUTE FUNCTION product_words_add()"
    )
    op.execute(
        f"INSERT INTO product_words (word) SELECT DISTINCT w FROM products, {WORDS.format(row='')} AS w "
        "WHERE length(w) BETWEEN 3 AND 64 ON CONFLICT (word) DO NOTHING"
    )
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a savepoint: a refused CREATE EXTENSION leaves the migration's transaction usable
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            bind.exec_driver_sql(
                "CREATE INDEX ix_product_words_trgm ON product_words USING gin (word gin_trgm_ops) "
                "WITH (fastupdate = off)"  # as for ix_products_search: no pending list to scan
            )
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm not available (%s): catalogue search works without typo tolerance", exc.orig)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_index("products_fts", FTS_COLUMNS, "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3'")
        op.execute("CREATE VIRTUAL TABLE products_fts_vocab USING fts5vocab(products_fts, 'row')")
    elif dialect == "postgresql":
        _postgresql()
    op.create_index("ix_products_popularity", "products", [sa.text("sold_units DESC"), "product_id"])
    op.create_index("ix_products_price", "products", ["price_cents", "product_id"])
    op.create_index("ix_products_price_desc", "products", [sa.text("price_cents DESC"), "product_id"])
    op.create_index("ix_products_category", "products", [sa.text("lower(category)")])


def downgrade() -> None:
    op.drop_index("ix_products_category", table_name="products")
    op.drop_index("ix_products_price_desc", table_name="products")
    op.drop_index("ix_products_price", table_name="products")
    op.drop_index("ix_products_popularity", table_name="products")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS products_fts_vocab")
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS products_fts_{suffix}")
        op.execute("DROP TABLE IF EXISTS products_fts")
    elif dialect == "postgresql":
        op.execute("DROP TABLE IF EXISTS product_words")
        op.execute("DROP TRIGGER IF EXISTS products_words ON products")
        op.execute("DROP FUNCTION IF EXISTS product_words_add()")
        op.execute("DROP INDEX IF EXISTS ix_products_search")
        op.execute("ALTER TABLE products DROP COLUMN IF EXISTS search_vector")
