"""Alembic environment: runs on the connection `retail.db.upgrade` hands over (or the URL in alembic's config)."""

import importlib

from alembic import context
from sqlalchemy import create_engine

from retail.db import Base

# every owner's tables on `Base`, for `alembic revision --autogenerate` (imported by name: retail sits below them)
for _owner in ("training.demand.tables", "serving.commerce.tables", "serving.auth", "serving.sessions"):
    importlib.import_module(_owner)

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
