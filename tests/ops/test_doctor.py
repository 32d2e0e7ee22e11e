"""The doctor's broker line on real Redis servers: it says "authenticated" only when the server
refused a client without the password, and an open broker is a warning in development and an
error with DEBUG off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from config.env import redis_url
from devstack.redis_server import PrivateRedis
from ops import doctor
from ops.doctor import Status

PASSWORD = "doctor-test-password"  # pragma: allowlist secret (throwaway)
AUTHENTICATED = "reachable and authenticated"
UNAUTHENTICATED = "reachable, unauthenticated (no password in CELERY_BROKER_URL)"


@pytest.fixture
def open_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of this test's own that asks for no password, as `make run` starts one."""
    server = PrivateRedis(tmp_path / "open").start()
    yield server
    server.stop()


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of this test's own with --requirepass, as Compose runs it."""
    server = PrivateRedis(tmp_path / "locked", password=PASSWORD).start()
    yield server
    server.stop()


def celery_app(server: PrivateRedis, *, password: str | None) -> Celery[Any]:
    url = redis_url(host="127.0.0.1", port=server.port, password=password, db=0)
    return Celery("doctor-test", broker=url, set_as_current=False)


@pytest.mark.parametrize(("debug", "status"), [(True, Status.WARN), (False, Status.FAIL)])
def test_a_broker_without_a_password_is_reachable_and_unauthenticated(
    open_redis, settings, debug, status
):
    # Given a Redis that asks for no password, and a broker URL without one
    settings.DEBUG = debug
    app = celery_app(open_redis, password=None)

    # When the doctor connects and asks
    assert doctor.check_broker_connection(app) is None
    finding = doctor.check_broker_authentication(app)

    # Then it says what it saw: a warning in development, an error with DEBUG off
    assert finding.status is status
    assert finding.detail == f"redis://127.0.0.1:{open_redis.port}/0 {UNAUTHENTICATED}"
    assert "REDIS_PASSWORD" in finding.hint


@pytest.mark.parametrize("debug", [True, False])
def test_a_password_the_redis_asks_for_is_reachable_and_authenticated(
    locked_redis, settings, debug
):
    settings.DEBUG = debug
    app = celery_app(locked_redis, password=PASSWORD)

    assert doctor.check_broker_connection(app) is None
    finding = doctor.check_broker_authentication(app)

    assert finding.status is Status.OK
    # The password is redacted from what the doctor prints
    assert finding.detail == f"redis://:***@127.0.0.1:{locked_redis.port}/0 {AUTHENTICATED}"


def test_a_password_an_open_redis_never_checks_is_still_unauthenticated(open_redis, settings):
    # Given a password in the URL, which a Redis without one accepts whatever it is
    settings.DEBUG = False
    app = celery_app(open_redis, password=PASSWORD)

    assert doctor.check_broker_connection(app) is None
    finding = doctor.check_broker_authentication(app)

    # Then the doctor asked the server without it, and calls it what it is
    assert finding.status is Status.FAIL
    assert finding.detail.endswith(
        "reachable, unauthenticated (Redis answers without a password, so CELERY_BROKER_URL's"
        " is never checked)"
    )
    assert PASSWORD not in finding.detail


def test_a_redis_that_wants_a_password_the_url_lacks_is_not_reached(locked_redis):
    app = celery_app(locked_redis, password=None)

    finding = doctor.check_broker_connection(app)

    assert finding is not None
    assert finding.status is Status.FAIL
    assert "Authentication required" in finding.detail
    assert finding.hint.startswith("Redis wants a password: set REDIS_PASSWORD")


def test_with_debug_off_an_open_broker_fails_the_doctor_and_the_other_checks_still_run(
    open_redis, settings
):
    settings.DEBUG = False
    app = celery_app(open_redis, password=None)

    findings = doctor.run(app, (), timeout=0.5)

    assert (findings[0].status, findings[0].subject) == (Status.FAIL, "broker")
    assert findings[0].detail.endswith(UNAUTHENTICATED)
    assert {"unacked", "beat"} <= {f.subject for f in findings}


def test_a_rabbitmq_url_without_a_password_is_reachable_and_unauthenticated(settings):
    # Given RabbitMQ, which logs every client in: kombu sends guest's password when the URL has none
    settings.DEBUG = False
    url = "amqp://127.0.0.1:5672//"
    app = Celery("doctor-test", broker=url, set_as_current=False)
    if doctor.check_broker_connection(app) is not None:
        pytest.skip("no RabbitMQ letting guest in on 127.0.0.1:5672 (docs/rabbitmq.md)")

    finding = doctor.check_broker_authentication(app)

    assert finding.status is Status.FAIL
    assert finding.detail == f"{url} {UNAUTHENTICATED}"
    assert "RabbitMQ user of its own" in finding.hint
