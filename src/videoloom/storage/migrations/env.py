"""Alembic environment. Videoloom runs migrations itself (``storage.database.migrate``),
handing a live connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from videoloom.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through videoloom.storage.database.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
