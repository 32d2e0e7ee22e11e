"""Every override of Celery, kombu or redis-py internals, in one place.

Each module here replaces or wraps something those libraries do not offer as an extension point,
says what it works around and links the upstream report (``UPSTREAM``). All were checked against
the versions in ``CHECKED_AGAINST``; tests/ops/test_overrides.py fails when an upgrade changes one
of them (read each override against the new version, then update the table), when an internal an
override relies on is gone or has another signature, and, where the upstream fault can be shown
in a test, once upstream has fixed it (the override can then go).

Not here, because they use documented extension points only: the bootsteps of ``ops.liveness``
and ``ops.worker_schedule``, and gunicorn's settings (``config.gunicorn``). docs/workers.md,
"Where the project overrides Celery".
"""

from __future__ import annotations

# The versions every override was read against and tested with.
CHECKED_AGAINST = {"celery": "5.7.0", "kombu": "5.7.0", "redis": "8.1.0", "amqp": "5.4.2"}

# Each module: what it overrides, and the upstream report of the fault (None: none filed).
UPSTREAM: dict[str, tuple[str, str | None]] = {
    "redis_transport": (
        "kombu.transport.redis Channel/QoS: held messages restored on reconnection",
        "https://github.com/celery/celery/issues/1307",
    ),
    "redis_transport.close": (
        "kombu.transport.redis Channel._connparams after the connection was unlinked",
        "https://github.com/celery/kombu/issues/582",
    ),
    "redis_transport.conn_or_acquire": (
        "kombu.transport.redis Channel.conn_or_acquire: one client per pool, not per publish",
        None,
    ),
    "requests": (
        "celery.worker.request.Request acknowledge/reject: kombu logs CRITICAL Couldn't ack",
        None,
    ),
    "shutdown": (
        "Celery's stop-signal handlers on green pools: its soft shutdown sleeps in a signal "
        "handler, which raises BlockingSwitchOutError in gevent's hub (the same design fails "
        "on eventlet, the report linked)",
        "https://github.com/celery/celery/issues/10083",
    ),
    "connections": (
        "kombu's Redis max_connections (10 per process): acknowledgements lost under gevent",
        "https://github.com/celery/celery/issues/1350",
    ),
    "connections.confirm_publish": (
        "py-amqp publisher confirms: two greenlets publishing on one connection hang",
        None,
    ),
    "beat": (
        "celery.beat.Scheduler's private heap and reserve(): one sending beat under a Redis "
        "lock, the last runs kept in Redis (Celery has no such option)",
        None,
    ),
}
