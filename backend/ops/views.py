"""Health endpoints for load balancers and orchestrators.

``/healthz``: the process answers (no I/O). ``/readyz``: the database and the broker answer, each
with a short timeout, so a load balancer stops sending traffic to an instance that cannot work.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from ops.broker import BrokerPing, BrokerUnreachable

PROBE_TIMEOUT_SECONDS = 1.0


@cache
def _broker() -> BrokerPing:
    # One per process: its connection is reused across requests.
    return BrokerPing(settings.CELERY_BROKER_URL, timeout=PROBE_TIMEOUT_SECONDS)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        _broker()()
        checks["broker"] = "ok"
    except BrokerUnreachable as exc:
        checks["broker"] = f"error: {exc.__cause__.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )
