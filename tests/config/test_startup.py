"""Bad configuration stops each process at start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.compose import REPO_DIR

BACKEND = REPO_DIR / "backend"


def start(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY",)}
    environ.update(env)
    return subprocess.run(
        argv, cwd=BACKEND, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def celery_worker() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "io", "-P", "prefork"]


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def test_missing_secret_key_stops_the_web_process():
    result = start(manage("check"), DJANGO_DEBUG="0")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off" in result.stderr


def test_unexpanded_broker_url_stops_a_worker_before_it_consumes(private_redis):
    # The incident: the literal text became the Redis password.
    result = start(
        celery_worker(),
        DJANGO_SECRET_KEY="x",
        CELERY_BROKER_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
    )

    assert result.returncode != 0
    assert "CELERY_BROKER_URL contains an unexpanded reference '${REDIS_PASSWORD}'" in (
        result.stderr + result.stdout
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REDIS_PORT", "six", "REDIS_PORT must be an integer"),
        ("DJANGO_DEBUG", "perhaps", "DJANGO_DEBUG must be a boolean"),
        ("REDIS_PASSWORD", "${SECRET}", "REDIS_PASSWORD contains an unexpanded reference"),
        ("DATABASE_URL", "nosuchscheme://x", "DATABASE_URL is not a valid database URL"),
    ],
)
def test_malformed_variables_stop_start_up(variable, value, message):
    result = start(manage("check"), DJANGO_SECRET_KEY="x", **{variable: value})

    assert result.returncode != 0
    assert message in result.stderr


def test_good_configuration_starts():
    result = start(manage("check"), DJANGO_SECRET_KEY="x")

    assert result.returncode == 0, result.stderr
