"""Log lines and their context (ops.logs): a web request's id, in its response and on every line
it logs; JSON in production, text with the context at the end in development. A task's fields:
tests/test_workers.py, on real workers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from ops.logs import Context, formatter


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the root logger writes, through a handler set up as settings.LOGGING's (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    handler.addFilter(Context())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_each_request_gets_an_id_in_its_response():
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_proxys_request_id_is_kept_and_a_malformed_one_replaced():
    kept = Client().get("/healthz", headers={"X-Request-ID": "caddy-7f3a9e21"})
    assert kept["X-Request-ID"] == "caddy-7f3a9e21"
    replaced = Client().get("/healthz", headers={"X-Request-ID": "<script>\n"})
    assert replaced["X-Request-ID"] != "<script>\n"
    assert len(replaced["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_the_lines_a_request_logs_are_json_carrying_its_id(logged):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    records = [json.loads(line) for line in logged.getvalue().splitlines()]
    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert not_found["request_id"] == response["X-Request-ID"]
    assert not_found["time"].endswith("+00:00")
    # and once the response is closed, lines no longer carry it
    logging.getLogger("after").warning("later")
    later = json.loads(logged.getvalue().splitlines()[-1])
    assert "request_id" not in later


def test_text_lines_end_with_their_context():
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "sent %s", ("x",), None)
    record.task_id, record.task_name = "abc", "starter.tasks.io_bound.check_url"
    line = formatter("text").format(record)
    assert line.endswith(
        "INFO app: sent x [task_id=abc task_name=starter.tasks.io_bound.check_url]"
    )
    plain = logging.LogRecord("app", logging.INFO, __file__, 1, "plain", (), None)
    assert formatter("text").format(plain).endswith("INFO app: plain")
