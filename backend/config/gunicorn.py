"""gunicorn settings, read from the environment: `gunicorn --config=python:config.gunicorn`."""

from __future__ import annotations

from config.env import Env
from ops.metrics.registry import clear_multiprocess_dir, mark_dead

env = Env()

bind = env.str("WEB_BIND", "0.0.0.0:8000")
# Chosen by measurement (docs/operations.md, "Sizing web"): on 2 cores, 2 processes of 2-8 threads
# cost the same CPU per webhook within the noise; 3 or 4 processes (gthread or sync) cost more.
# gthread keeps connections alive (sync closes each one). gevent fails to boot: it patches threading
# after config has imported Django (AppRegistryNotReady).
worker_class = env.choice("WEB_WORKER_CLASS", "gthread", choices=("gthread", "sync"))
workers = env.int("WEB_WORKERS", 2, minimum=1)
threads = env.int("WEB_THREADS", 4, minimum=1)
# Compose's stop_grace_period for web (30 s) is longer, so requests in flight finish.
graceful_timeout = 20
accesslog = "-"
# The request id (ops.logs.RequestIdMiddleware) on every access line, which gunicorn writes after
# the request's own lines; in production each line is JSON, as the app's (LOG_FORMAT).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
_log_format = env.choice(
    "LOG_FORMAT",
    "text" if env.bool("DJANGO_DEBUG", False) else "json",
    choices=("json", "text"),
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": {"()": "ops.logs.formatter", "style": _log_format}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# gunicorn >= 25.1 opens a control socket under $HOME by default; the image's home is not
# writable by the app user, so it lives in /tmp (one per container).
control_socket = env.str("GUNICORN_CONTROL_SOCKET", "/tmp/gunicorn.ctl")  # noqa: S108


# prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, ops.metrics.registry): the
# master clears what an earlier run wrote before any worker starts, and marks each exited worker.
def on_starting(server: object) -> None:
    clear_multiprocess_dir()


def child_exit(server: object, worker: object) -> None:
    mark_dead(worker.pid)  # type: ignore[attr-defined]
