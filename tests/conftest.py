"""Test-wide fixtures. The environment and the private Redis come from ``tests.bootstrap``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from devstack.postgres_server import PrivatePostgres
from devstack.redis_server import PrivateRedis
from tests.bootstrap import POSTGRES, RABBITMQ, REDIS, SESSION_DIR
from tests.broker import BrokerView


@pytest.fixture(scope="session")
def private_redis() -> PrivateRedis:
    return REDIS


@pytest.fixture(scope="session")
def broker() -> BrokerView:
    """The session's broker, the private Redis or RabbitMQ (TEST_BROKER=amqp)."""
    from django.conf import settings

    return BrokerView(settings.CELERY_BROKER_URL, RABBITMQ.vhost if RABBITMQ else None)


@pytest.fixture(scope="session")
def private_postgres() -> PrivatePostgres:
    """The session's own PostgreSQL (``make chaos`` without TEST_DATABASE_URL)."""
    if POSTGRES is None:
        pytest.skip("the database is not the session's own PostgreSQL (TEST_DATABASE_URL is set)")
    return POSTGRES


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return SESSION_DIR


@pytest.fixture(scope="session")
def collected_static() -> Path:
    """collectstatic into the session's STATIC_ROOT, as the image build does: pages that link a
    static file need its hashed name from the manifest (debug is off in tests)."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    return Path(settings.STATIC_ROOT)


@pytest.fixture
def admin_client(admin_client: Any, collected_static: Path) -> Any:
    """pytest-django's admin client, with the static files its pages link collected first, so
    an admin test passes alone as well as after the tests that collect them."""
    return admin_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under a pinned clock (TEST_NOW) a test that compares file times, which the kernel stamps
    with its own unpinned clock, against Python's pinned one would only measure the offset."""
    if os.environ.get("TEST_NOW"):
        skip = pytest.mark.skip(reason="compares file times with the kernel's unpinned clock")
        for item in items:
            if item.get_closest_marker("kernel_clock"):
                item.add_marker(skip)


pytest_plugins = ["tests.stack", "tests.faults"]


# The container tests (tests/compose and each app's tests/<app>/compose) need a Docker Engine
# and run on their own: `make test-compose`. Their fixtures are a plugin loaded only then, since
# it checks for the engine as it loads.
collect_ignore_glob: list[str] = []
if os.environ.get("COMPOSE_TESTS"):
    pytest_plugins.append("tests.compose.fixtures")
else:
    collect_ignore_glob += ["compose", "*/compose"]
# Generating a project in every mode and running each one's own suite: `make test-generator`.
collect_ignore = [] if os.environ.get("GENERATOR_TESTS") else ["generator/test_modes.py"]
# Faults (kills, outages, bursts) at the scale of a real deployment, on PostgreSQL: `make chaos`.
if not os.environ.get("FAULT_TESTS"):
    collect_ignore_glob.append("*/test_faults.py")
