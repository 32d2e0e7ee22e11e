"""Error reporting to Sentry, started by the settings only when ``SENTRY_DSN`` is set: exceptions
in web requests and in tasks (web, both workers and beat load these settings)."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration


def start_sentry(dsn: str, environment: str, traces_sample_rate: float) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Off by default: a trace per task is costly at hundreds of sends per second.
        traces_sample_rate=traces_sample_rate,
        # Phone numbers and message bodies are personal data: never attach request bodies,
        # users or cookies.
        send_default_pii=False,
        max_request_body_size="never",
    )
