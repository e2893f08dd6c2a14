"""Alembic migrations of the venta schema, shipped inside the package.

Run them with ``venta db migrate`` or ``venta_core.store.migrate``; no alembic.ini is needed.
"""
