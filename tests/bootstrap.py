"""Loaded with ``-p tests.bootstrap`` (see pyproject.toml), before pytest-django reads settings.

It starts a private Redis for the whole session and sets the environment, so every test, and
every worker process a test starts, talks to a broker nobody else uses (or to RabbitMQ, in a
virtual host of its own, with TEST_BROKER=amqp: tests.broker). The fault tests
(FAULT_TESTS=1) without a DATABASE_URL get a private PostgreSQL the same way: one they may restart.
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

SESSION_DIR = Path(tempfile.mkdtemp(prefix="django-celery-tests-"))
REDIS = PrivateRedis(SESSION_DIR / "redis").start()
atexit.register(shutil.rmtree, SESSION_DIR, ignore_errors=True)
atexit.register(REDIS.stop)
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
