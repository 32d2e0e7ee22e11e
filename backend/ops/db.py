"""Database helpers for tasks on the gevent worker."""

from __future__ import annotations

from django.db import connection


def connection_release() -> None:
    """Give this greenlet's pooled connection back before a slow network call.

    The gevent worker's pool is smaller than its concurrency on purpose (docs/whatsapp.md,
    "acks_late and gevent"). Without a pool (SQLite, the prefork worker) this does nothing.
    Never call it inside ``transaction.atomic``.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
