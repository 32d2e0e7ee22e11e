"""Database helpers for tasks on the gevent worker."""

from __future__ import annotations

from django.db import connection


def connection_release() -> None:
    """Give this greenlet's pooled connection back before a slow network call.

    The gevent worker's pool (DATABASE_POOL_MAX_SIZE) is smaller than its concurrency on purpose;
    a task that keeps its connection through an HTTP call caps the calls in flight at the pool
    size. The next query takes a connection from the pool again. Without a pool (SQLite, the
    prefork worker) this does nothing. Never call it inside ``transaction.atomic``.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
