"""Web's series and endpoint (ops.metrics.web), and the due time every message carries
(ops.metrics.queues.stamp_due_time), in this process."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import REGISTRY

from config.wsgi import application
from ops.metrics.queues import stamp_due_time

pytestmark = pytest.mark.django_db


def requests_counted(view: str, method: str, status: str) -> float:
    labels = {"view": view, "method": method, "status": status}
    return REGISTRY.get_sample_value("web_requests_total", labels) or 0


def all_requests() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "web_requests"
        for sample in family.samples
        if sample.name == "web_requests_total"
    )


def wsgi_get(path: str, host: str = "web:8000") -> tuple[str, bytes]:
    """A request through the WSGI application gunicorn serves."""
    environ: dict = {"PATH_INFO": path, "HTTP_HOST": host, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    answered: list[str] = []
    body = b"".join(application(environ, lambda status, headers: answered.append(status)))
    return answered[0], body


def test_requests_are_counted_by_view_method_and_status(client):
    healthz, unknown = (
        requests_counted("healthz", "GET", "200"),
        requests_counted("<unresolved>", "GET", "404"),
    )
    client.get("/healthz")
    client.get("/no/such/page/42")
    client.generic("BREW", "/healthz")
    assert requests_counted("healthz", "GET", "200") == healthz + 1
    # a path no view matched is one series, however many paths a scanner tries
    assert requests_counted("<unresolved>", "GET", "404") == unknown + 1
    assert requests_counted("healthz", "other", "405") >= 1


def test_the_endpoint_answers_any_host_without_counting_itself():
    before = all_requests()
    # Prometheus reaches web by its compose name, which ALLOWED_HOSTS does not list
    status, body = wsgi_get("/metrics")
    assert status.startswith("200")
    assert b"celery_queue_length" in body
    assert all_requests() == before
    # while any other path from that host is refused by Django's host check
    assert wsgi_get("/healthz")[0].startswith("400")


def test_metrics_off_means_no_endpoint(settings):
    settings.METRICS_ENABLED = False
    assert wsgi_get("/metrics", host="localhost")[0].startswith("404")


def test_a_message_carries_the_time_it_becomes_due():
    properties: dict = {}
    stamp_due_time(headers={"eta": None}, properties=properties)
    assert abs(properties["timestamp"] - time.time()) <= 1
    due = datetime.now(UTC) + timedelta(minutes=10)
    stamp_due_time(headers={"eta": due.isoformat()}, properties=properties)
    assert properties["timestamp"] == int(due.timestamp())
    assert isinstance(properties["timestamp"], int)  # AMQP's timestamp is whole seconds


def test_every_series_the_alert_rules_read_is_served():
    from tests.ops.test_prometheus_rules import CORE_HISTOGRAMS, CORE_METRICS

    body = wsgi_get("/metrics")[1].decode()
    served = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")}
    counters = {f"{name}_total" for name in served}
    assert not CORE_METRICS - served - counters
    assert not CORE_HISTOGRAMS - served
