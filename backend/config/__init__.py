"""Django project package; exports the Celery app so ``celery -A config`` finds it.

Every entry point (manage.py, gunicorn, celery, ``django.setup()``) imports this package first,
and importing the Celery app reads the settings: a missing or malformed variable ends the
process here with its message, and exit status 1, instead of a traceback.
"""

import sys

from config.env import EnvError
from ops.metrics.registry import multiprocess_dir_create

# Before any metric exists: in multiprocess mode prometheus_client writes there from the first.
multiprocess_dir_create()

try:
    from config.celery import app as celery_app
except EnvError as error:
    sys.exit(f"Configuration error: {error}")

__all__ = ("celery_app",)
