"""Alembic environment: runs on the connection `retail.db.upgrade` hands over (or the URL in alembic's config)."""

from alembic import context
from sqlalchemy import create_engine

from retail.db.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic -x url=... upgrade head` by hand
        with create_engine(context.get_x_argument(as_dictionary=True)["url"]).begin() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


run()
