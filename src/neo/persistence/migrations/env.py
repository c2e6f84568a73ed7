"""Alembic environment for NEO's state database.

Run through :func:`neo.persistence.open_database` or ``neo db upgrade``, which pass an open
connection in ``config.attributes["connection"]``: the script location is resolved from the
installed package, so no alembic.ini is needed at run time.
"""

from __future__ import annotations

from alembic import context

from neo.persistence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run NEO's migrations through neo.persistence.open_database or `neo db upgrade`"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
