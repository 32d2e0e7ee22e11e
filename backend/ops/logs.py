"""What every log line carries: inside a task, its id, name, queue and worker node; inside a web
request, its id. JSON lines in production (``LOG_FORMAT=json``), text in development.
docs/operations.md, "Logs".
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery import current_task
from celery.signals import after_setup_logger, after_setup_task_logger
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it looks like one; anything else gets a new id.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
FIELDS = ("task_id", "task_name", "queue", "worker", "request_id")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_id: ContextVar[str] = ContextVar("request_id", default="")
# A proxy to the task running in this thread or greenlet (celery-types type it as the task).
_current_task: Any = current_task


class Context(logging.Filter):
    """Adds the current task's or request's fields to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = _current_task._get_current_object()
        if task is not None and task.request.id:
            request = task.request
            record.task_id = request.id
            record.task_name = task.name
            record.queue = (request.delivery_info or {}).get("routing_key")
            record.worker = request.hostname
        if request_id.get():
            record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """Plain lines, the context at the end in brackets when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{f}={getattr(record, f)}" for f in FIELDS if hasattr(record, f))
        return f"{line} [{context}]" if context else line


def formatter(style: str = "json") -> logging.Formatter:
    """The formatter for ``LOG_FORMAT`` (used by name in LOGGING and gunicorn's config)."""
    if style == "json":
        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    return TextFormatter(TEXT)


def _structure(logger: logging.Logger, **_: Any) -> None:
    """Celery configured this process's logging (a worker, beat): add the context to each
    handler, and in production write JSON. In development, Celery's own text format stays."""
    from django.conf import settings

    for handler in logger.handlers:
        handler.addFilter(Context())
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(formatter("json"))


after_setup_logger.connect(_structure, weak=False)
after_setup_task_logger.connect(_structure, weak=False)


class RequestIdMiddleware:
    """Gives each request an id (the proxy's ``X-Request-ID`` when it sent a sane one), logged
    with every line the request writes and returned in the response's header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
        # Cleared when the response is closed (request_finished), not here: Django logs a
        # failed request (django.request) after the middleware has returned.
        request_id.set(rid)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = rid
        return response


def _request_finished(**_: Any) -> None:
    request_id.set("")


request_finished.connect(_request_finished, weak=False)
