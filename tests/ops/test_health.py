"""/healthz answers without I/O; /readyz reports the database and the broker."""

from __future__ import annotations

import pytest

from devstack.redis_server import free_port
from ops import views


@pytest.fixture
def broker_at(settings):
    def point(url: str) -> None:
        settings.CELERY_BROKER_URL = url
        views._broker.cache_clear()

    yield point
    views._broker.cache_clear()


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query here would fail the test.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_redis_is_down(client, broker_at):
    broker_at(f"redis://127.0.0.1:{free_port()}/0")

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("error")


def test_health_endpoints_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
