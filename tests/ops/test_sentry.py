"""Sentry reporting (config.sentry): off without ``SENTRY_DSN``; with it, a task that raises on a
real worker reaches a local server posing as Sentry's ingest endpoint as an envelope naming the
exception and the task."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from config.celery import app
from tests.stack import wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


class SentryIngest(ThreadingHTTPServer):
    """Accepts envelopes as Sentry's ingest does (``POST /api/<project>/envelope/``)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Envelopes)
        self.envelopes: list[tuple[str, list[dict]]] = []

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server_port}/1"


class _Envelopes(BaseHTTPRequestHandler):
    server: SentryIngest

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
        self.server.envelopes.append((self.path, items))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry() -> Iterator[SentryIngest]:
    server = SentryIngest()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_without_a_dsn_nothing_is_reported():
    assert not sentry_sdk.get_client().is_active()


def test_a_task_that_raises_is_reported_with_its_name(stack, clean_queues, sentry):
    stack.ensure("worker-io", include="tests.worker_tasks", SENTRY_DSN=sentry.dsn)
    app.send_task("tests.worker_tasks.fail", args=[0], queue="io")

    def reported() -> list[dict]:
        return [
            item
            for path, items in sentry.envelopes
            if path == "/api/1/envelope/"
            for item in items
            if "exception" in item
        ]

    event = wait_until(reported, timeout=30)[0]
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert event["transaction"] == "tests.worker_tasks.fail"
    assert event["environment"] == "production"
