"""Django settings: the core's, then each app's own (``<app>/settings.py``, config.discovery).

``.env`` at the repository root is loaded when present; the real environment wins over it
(``config.environment``). Values are never expanded: a value still holding ``${...}`` stops
start-up (see ``config.env``), as does any missing required or malformed variable
(``config/__init__.py`` exits with the message).
"""

from __future__ import annotations

import dj_database_url

from config.discovery import app_settings, project_apps
from config.env import (
    ALLOWED_HOST,
    AMQP_SCHEMES,
    HOST,
    HTTP_SCHEMES,
    ORIGIN,
    REDIS_SCHEMES,
    EnvError,
    is_redis_url,
    redis_url,
)
from config.environment import BACKEND_DIR, DEBUG, REPO_DIR, env, production

# --- Django core -------------------------------------------------------------------------------

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", "insecure-local-development-key-not-for-production")
else:
    SECRET_KEY = env.secret("DJANGO_SECRET_KEY", production=True) or ""
    if not SECRET_KEY:
        raise EnvError(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off. "
            "Run `make env` to write a .env with a generated key."
        )
# Loopback is always allowed: the container healthcheck and local probes call 127.0.0.1.
ALLOWED_HOSTS = [
    *env.list("DJANGO_ALLOWED_HOSTS", [], shape=ALLOWED_HOST),
    "localhost",
    "127.0.0.1",
    "[::1]",
]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [], shape=ORIGIN)

# Every package in backend/ with an apps.py: adding an app is creating it there (`manage.py
# startapp`), removing one is deleting its folder (config.discovery).
PROJECT_APPS = project_apps(BACKEND_DIR)
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *PROJECT_APPS,
]

# Metrics (ops.metrics, docs/operations.md "Metrics and alerts"); off: no request or task series
# and no scrape endpoint (every message still carries its due time).
METRICS_ENABLED = env.bool("METRICS_ENABLED", True)
MIDDLEWARE = [
    *(["ops.metrics.web.MetricsMiddleware"] if METRICS_ENABLED else []),
    "ops.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
# Postgres through DATABASE_URL, or from POSTGRES_HOST/PORT/DB/USER/PASSWORD (what Compose sets);
# SQLite when neither is set (local use, `make run`).

DATABASE_URL = env.optional("DATABASE_URL")
# Connection pooling (Django >= 5.1, psycopg 3) is switched on per process by
# DATABASE_POOL_MAX_SIZE:
# web and the gevent worker need it (every greenlet would otherwise open its own connection and
# exhaust max_connections); the prefork worker must not use it (Celery's Django fixup closes the
# pool after every task there, celery#10554).
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", 0, minimum=0)

POSTGRES_HOST = env.optional("POSTGRES_HOST")

if DATABASE_URL or POSTGRES_HOST:
    if DATABASE_URL:
        try:
            default_db = dj_database_url.parse(DATABASE_URL)
        except ValueError as exc:
            raise EnvError(f"DATABASE_URL is not a valid database URL: {exc}") from None
    else:
        # Built from parts, like the broker URL, so the password needs no URL quoting at all.
        default_db = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": str(POSTGRES_HOST),
            "PORT": env.int("POSTGRES_PORT", 5432, minimum=1, maximum=65535),
            "NAME": env.str("POSTGRES_DB", "app"),
            "USER": env.str("POSTGRES_USER", "app"),
            "PASSWORD": env.secret("POSTGRES_PASSWORD", production=production) or "",
        }
    # A connection kept across requests or tasks is checked before reuse: after a database
    # restart, every kept one is dead. With a pool, the pool checks each one it hands out.
    default_db["CONN_HEALTH_CHECKS"] = True
    if DATABASE_POOL_MAX_SIZE and default_db["ENGINE"] == "django.db.backends.postgresql":
        default_db["CONN_MAX_AGE"] = 0
        default_db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": 30,
        }
    else:
        default_db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
else:
    default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env.str("SQLITE_PATH", str(REPO_DIR / "db.sqlite3")),
        "OPTIONS": {
            # Several processes (web, two workers, beat) share the file under `make run`:
            # WAL lets readers run beside the writer, IMMEDIATE avoids lock-upgrade deadlocks.
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not memory, so worker processes started by the tests see the test database.
        "TEST": {"NAME": env.str("SQLITE_TEST_PATH", str(REPO_DIR / ".test-db.sqlite3"))},
    }
DATABASES = {"default": default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation, static files ------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.time_zone("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", str(REPO_DIR / "staticfiles"))
# collectstatic writes each file under a name carrying its content hash, plus a gzip copy; such
# names are cached for a year. The production proxy serves them itself
# (deploy/caddy/Caddyfile), WhiteNoise from gunicorn otherwise; in DEBUG straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security ----------------------------------------------------------------------------------
# Production (DEBUG off) sits behind a TLS-terminating proxy that sets X-Forwarded-Proto; these
# defaults pass `manage.py check --deploy` (tests/config/test_security.py). docs/security.md.

# Trust X-Forwarded-Proto only when a proxy in front always sets (or strips) it.
TRUST_X_FORWARDED_PROTO = env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# The container healthcheck and local probes call these over plain HTTP on 127.0.0.1.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Start small: browsers remember HSTS for this long. Raise it (31536000) once HTTPS works.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Redis and Celery --------------------------------------------------------------------------
# The broker URL is built here from parts so no process ever has to expand ${REDIS_PASSWORD}.

REDIS_HOST = env.str("REDIS_HOST", "127.0.0.1", shape=HOST)
REDIS_PORT = env.int("REDIS_PORT", 6379, minimum=1, maximum=65535)
REDIS_PASSWORD = env.secret("REDIS_PASSWORD", production=production)
REDIS_DB = env.int("REDIS_DB", 0, minimum=0)
REDIS_URL = redis_url(host=REDIS_HOST, port=REDIS_PORT, password=REDIS_PASSWORD, db=REDIS_DB)
# The broker is Redis unless CELERY_BROKER_URL names a RabbitMQ (amqp://, amqps://;
# docs/rabbitmq.md). Redis stays required either way: results, beat's lock, the canaries.
CELERY_BROKER_URL = env.url("CELERY_BROKER_URL", REDIS_URL, schemes=(*REDIS_SCHEMES, *AMQP_SCHEMES))
CELERY_BROKER_IS_REDIS = is_redis_url(CELERY_BROKER_URL)
# The Redis holding results, beat's lock and record of runs, its heartbeat and the canaries: the
# broker itself when that is Redis, the one built from REDIS_* parts when it is RabbitMQ.
OPS_REDIS_URL = CELERY_BROKER_URL if CELERY_BROKER_IS_REDIS else REDIS_URL
CELERY_RESULT_BACKEND = env.url("CELERY_RESULT_BACKEND", OPS_REDIS_URL, schemes=REDIS_SCHEMES)

# The longest countdown any producer may ask for (staggered sends, retry backoff). The Redis
# transport re-delivers a message held longer than the visibility timeout, so the visibility
# timeout below must exceed this cap plus the longest task time limit (ops.checks: ops.E020).
CELERY_MAX_COUNTDOWN = env.int("CELERY_MAX_COUNTDOWN", 900, minimum=1)
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
# RabbitMQ's consumer_timeout as the server is configured (its default: 30 min). RabbitMQ closes
# the channel of a consumer holding a message unacknowledged longer, and a countdown task is held
# from delivery until it ran, so this plays the visibility timeout's part (ops.E020).
RABBITMQ_CONSUMER_TIMEOUT = env.int("RABBITMQ_CONSUMER_TIMEOUT", 1800, minimum=60)
# Soft shutdown: on SIGTERM a worker keeps running tasks this long, then requeues what is left.
# Compose's stop_grace_period must be longer (see docker-compose.yml).
CELERY_SOFT_SHUTDOWN_TIMEOUT = env.float("CELERY_SOFT_SHUTDOWN_TIMEOUT", 10.0, minimum=0)
# Niceness of a prefork worker (worker-cpu) and of its session's autogroup (ops.priority):
# CPU-bound work yields a core to latency-bound work (web, worker-io, the database) instead of
# sharing it equally (docs/workers.md, "Priorities"). 0 leaves the priority alone.
CELERY_PREFORK_NICE = env.int("CELERY_PREFORK_NICE", 10, minimum=0, maximum=19)
# A worker touches this file while its event loop is healthy; the container healthcheck reads it.
CELERY_LIVENESS_FILE = env.optional("CELERY_LIVENESS_FILE")
# Seconds between touches; the healthchecks (find -mmin -1) tolerate several missed ones.
CELERY_LIVENESS_INTERVAL = env.float("CELERY_LIVENESS_INTERVAL", 10.0, minimum=0.1)
# Beat holds a lock in Redis for this long, renewed every third of it; another beat stands by and
# takes over within about this long after the holder died (ops.overrides.beat, docs/operations.md).
CELERY_BEAT_LOCK_TIMEOUT = env.float("CELERY_BEAT_LOCK_TIMEOUT", 30.0, minimum=3)
# Task events (Flower, `celery events`); the production compose file turns them on.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", False)
# Beat sends a canary task to every queue this often; the doctor shows when each came through.
OPS_CANARY_INTERVAL_SECONDS = env.float("OPS_CANARY_INTERVAL_SECONDS", 60.0, minimum=1)

# --- Metrics (ops.metrics; METRICS_ENABLED is above, with the middleware) ----------------------

# Where a worker or beat serves /metrics (web serves it on its own port); 0: nowhere. Each process
# on one host needs its own (make run: 9101 to 9103); in containers each service has 9101.
METRICS_PORT = env.int("METRICS_PORT", 0, minimum=0, maximum=65535)
# RabbitMQ's management API (http://<user>:<password>@<host>:15672), where RabbitMQ shows how
# long a queue's oldest message has waited; without it, no celery_queue_oldest_age_seconds.
RABBITMQ_MANAGEMENT_URL = (
    env.url("RABBITMQ_MANAGEMENT_URL", "", schemes=HTTP_SCHEMES)
    if env.optional("RABBITMQ_MANAGEMENT_URL")
    else None
)

# --- Logging -----------------------------------------------------------------------------------

LOG_LEVEL = env.choice(
    "LOG_LEVEL", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
# JSON lines for a log collector in production; text while developing (ops.logs).
LOG_FORMAT = env.choice("LOG_FORMAT", "text" if DEBUG else "json", choices=("json", "text"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": {"()": "ops.logs.formatter", "style": LOG_FORMAT}},
    "filters": {"context": {"()": "ops.logs.Context"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Error reporting ---------------------------------------------------------------------------

# Sentry, only when a DSN is set (config.sentry): errors in requests and in tasks.
SENTRY_DSN = env.url("SENTRY_DSN", "", schemes=HTTP_SCHEMES) if env.optional("SENTRY_DSN") else None
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0, maximum=1)
if SENTRY_DSN:
    from config.sentry import start_sentry

    start_sentry(SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_TRACES_SAMPLE_RATE)

# --- The apps' own settings --------------------------------------------------------------------
# Each app's settings module, read last: a name the core or another app already set is an error.

globals().update(app_settings(PROJECT_APPS, defined=globals()))
