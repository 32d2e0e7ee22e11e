"""WSGI entry point for gunicorn (``gunicorn config.wsgi``), with ``/metrics`` (ops.metrics.web)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from ops.metrics.web import with_metrics_endpoint  # noqa: E402  (needs the settings)

application = with_metrics_endpoint(django_application)
