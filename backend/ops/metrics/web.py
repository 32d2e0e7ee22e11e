"""Web's series: each request by view and status, its latency, and the scrape endpoint.

``/metrics`` is answered before Django's middleware (no host check, no session, never counted as
a request) by every gunicorn worker, which sums what all of them wrote. Caddy refuses
``/metrics`` on the public side; Prometheus reaches web on the compose network.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram, make_wsgi_app

from ops.metrics.registry import serving_registry

METRICS_PATH = "/metrics"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Meta's standard for webhook answers sits on two of these edges: 0.25 s (the median) and 1 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "web_requests", "Requests answered, by view, method and status.", ["view", "method", "status"]
)
LATENCY = Histogram(
    "web_request_duration_seconds",
    "Time from the request reaching Django to its answer, by view and method.",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)


class MetricsMiddleware:
    """First in MIDDLEWARE, so the time includes every other middleware. A view is named by its
    URL name (``<app>:<name>``); a path no view matched is ``<unresolved>``, so scanners
    cannot grow the series."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or match._func_path) if match is not None else "<unresolved>"
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        LATENCY.labels(view, method).observe(time.perf_counter() - started)
        return response


@cache
def _metrics_app() -> Callable[..., Iterable[bytes]]:
    from config.discovery import metric_collectors
    from ops.metrics.collectors import CoreCollector

    collectors = [CoreCollector(), *metric_collectors(settings.INSTALLED_APPS).values()]
    app: Callable[..., Iterable[bytes]] = make_wsgi_app(serving_registry(collectors))
    return app


def with_metrics_endpoint(application: Callable[..., Any]) -> Callable[..., Any]:
    """The WSGI application, with ``/metrics`` answered by prometheus_client (when
    METRICS_ENABLED)."""

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != METRICS_PATH or not settings.METRICS_ENABLED:
            return application(environ, start_response)
        try:
            return _metrics_app()(environ, start_response)
        finally:
            # The collectors read the database outside a request: give the connection back.
            close_old_connections()

    return dispatch
