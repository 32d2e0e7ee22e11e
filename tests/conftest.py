"""Test-wide fixtures. The environment and the private Redis come from ``tests.bootstrap``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.redis_server import PrivateRedis
from tests.bootstrap import REDIS, SESSION_DIR


@pytest.fixture(scope="session")
def private_redis() -> PrivateRedis:
    return REDIS


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return SESSION_DIR


pytest_plugins = ["tests.stack"]


# The container tests need a Docker Engine and run on their own: `make test-compose`.
collect_ignore_glob = [] if os.environ.get("COMPOSE_TESTS") else ["compose/*"]
