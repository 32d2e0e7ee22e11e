"""Loaded with ``-p tests.bootstrap`` (see pyproject.toml), before pytest-django reads settings.

It starts a private Redis for the whole session and sets the environment, so every test, and
every worker process a test starts, talks to a broker nobody else uses (or to RabbitMQ, in a
virtual host of its own, with TEST_BROKER=amqp: tests.broker). The fault tests
(FAULT_TESTS=1) without a DATABASE_URL get a private PostgreSQL the same way: one they may restart.
With TEST_NOW (an ISO date and time, e.g. ``2026-12-31T23:50:00Z``) the session and every process
it starts run with the clock moved to that moment (tests/clock).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from devstack.postgres_server import PrivatePostgres
from devstack.redis_server import PrivateRedis
from tests.rabbitmq import session_rabbitmq

CLOCK_DIR = Path(__file__).parent / "clock"


def _pin_clock(moment: str) -> None:
    """Move this process's clock to ``moment`` and have every child process follow it."""
    import time
    from datetime import datetime

    import time_machine

    offset = datetime.fromisoformat(moment).timestamp() - time.time()
    os.environ["TEST_CLOCK_OFFSET"] = str(offset)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(CLOCK_DIR), os.environ.get("PYTHONPATH")])
    )
    time_machine.travel(time.time() + offset, tick=True).start()


# A pytest started with TEST_CLOCK_OFFSET already set has its clock pinned by tests/clock.
if os.environ.get("TEST_NOW") and not os.environ.get("TEST_CLOCK_OFFSET"):
    _pin_clock(os.environ["TEST_NOW"])

SESSION_DIR = Path(tempfile.mkdtemp(prefix="django-celery-tests-"))
REDIS = PrivateRedis(SESSION_DIR / "redis").start()
atexit.register(shutil.rmtree, SESSION_DIR, ignore_errors=True)
atexit.register(REDIS.stop)
# make test-postgres (TEST_POSTGRES=1) and make chaos (FAULT_TESTS=1) take their database from
# TEST_DATABASE_URL: the first defaults to the machine's PostgreSQL with trust auth, the second
# to a private one started here. (Read here, not by make: make would print its password.)
if os.environ.get("TEST_POSTGRES"):
    os.environ["DATABASE_URL"] = (
        os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    )
elif os.environ.get("FAULT_TESTS"):
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "")
POSTGRES: PrivatePostgres | None = None
if os.environ.get("FAULT_TESTS") and not os.environ.get("DATABASE_URL"):
    POSTGRES = PrivatePostgres(SESSION_DIR / "postgres").start()
    atexit.register(POSTGRES.stop)
    os.environ["DATABASE_URL"] = POSTGRES.url

for _name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_PASSWORD", "REDIS_DB"):
    os.environ.pop(_name, None)
# TEST_BROKER=amqp: RabbitMQ is the broker; the private Redis keeps everything else.
RABBITMQ = session_rabbitmq()
if RABBITMQ is not None:
    atexit.register(RABBITMQ.stop)
    os.environ["CELERY_BROKER_URL"] = RABBITMQ.url
    if RABBITMQ.management_url:
        os.environ["RABBITMQ_MANAGEMENT_URL"] = RABBITMQ.management_url
os.environ.update(
    REDIS_HOST="127.0.0.1",
    REDIS_PORT=str(REDIS.port),
    DJANGO_DEBUG="0",
    DJANGO_SECRET_KEY="test-secret-key-not-for-production",  # pragma: allowlist secret (throwaway)
    # The test client speaks plain HTTP; tests/config/test_security.py covers the redirect.
    DJANGO_SECURE_SSL_REDIRECT="0",
    DJANGO_ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
    # Test runs never read a developer's .env: the values above are the whole configuration.
    DOTENV_DISABLED="1",
    DJANGO_STATIC_ROOT=str(SESSION_DIR / "static"),
    # Each run its own test database, so two runs in one checkout never share a file.
    SQLITE_TEST_PATH=str(SESSION_DIR / "test-db.sqlite3"),
)
(SESSION_DIR / "static").mkdir()
