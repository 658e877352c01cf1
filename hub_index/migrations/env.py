"""Alembic environment of the hub's metadata database.

``HubDatabase.upgrade`` passes its open connection in ``config.attributes["connection"]`` and
the migrations run inside that connection's transaction. Without one, an engine is built from
the ``sqlalchemy.url`` option with the hub's own settings. Alembic's version table is
``plugin_hub_alembic_version``, so the hub can share a database with other applications.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub_index.db import VERSION_TABLE, create_hub_engine, metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url to run the hub migrations on")
    return url


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migrations as SQL for the configured URL's dialect."""
    context.configure(
        url=_url(),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_hub_engine(_url())
    try:
        with engine.connect() as new_connection:
            _run_on(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
