"""Database helpers for tasks: releasing a pooled connection, and riding out a database restart."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")

logger = logging.getLogger(__name__)

# The database went away (restarted, failed over, the connection dropped): worth trying again,
# unlike bad data (DataError, IntegrityError), which fails the same way every time.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 15.0


def connection_release() -> None:
    """Give this greenlet's pooled connection back before a slow network call.

    The gevent worker's pool is smaller than its concurrency on purpose: a greenlet holding a
    connection through a slow call would cap the calls in flight at the pool's size
    (docs/troubleshooting.md, "too many clients already"). Without a pool (SQLite, the prefork
    worker) this does nothing. Never call it inside ``transaction.atomic``.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def database_retry_countdown(retries: int) -> float:
    """A task's countdown after its ``retries``-th database error: exponential, "equal jitter"
    (half fixed, half random), at most RETRY_MAX_SECONDS."""
    ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not security)


def until_database_answers(operation: Callable[[], T], *, deadline: float) -> T:
    """``operation()``, run again while the database is unavailable, until ``time.monotonic()``
    reaches ``deadline``; then the error is raised.

    For a write that must not be lost, such as recording a send the API accepted. ``operation``
    must be safe to repeat (its first run may have committed before the connection dropped).
    Never call it inside ``transaction.atomic``.
    """
    pause = 0.1
    while True:
        try:
            return operation()
        except DATABASE_UNAVAILABLE as exc:
            if time.monotonic() + pause >= deadline:
                raise
            logger.warning("database unavailable, trying again in %.1f s: %s", pause, exc)
            # A broken connection stays attached until closed; the next try takes a new one.
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
