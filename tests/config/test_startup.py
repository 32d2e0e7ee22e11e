"""Bad configuration stops each process at start-up with a message naming the variable.

Every variable the core's settings read (``config.environment``, ``config.settings``) has a case
below, run in a real ``manage.py check`` process with a controlled environment
(tests/startup.py); each app's are in its own tests (tests/<app>/test_settings.py).
"""

from __future__ import annotations

from dotenv import dotenv_values

from tests.startup import BACKEND, REPO_DIR, case, celery_worker, manage, start, startup_tests

POSTGRES = {"POSTGRES_HOST": "db"}  # the Postgres parts are read only when a host is set


# Each case is what a person plausibly gets wrong; the message must start with the variable.
BAD = [
    case("DOTENV_DISABLED", "sometimes", "DOTENV_DISABLED must be a boolean"),
    case("DJANGO_DEBUG", "perhaps", "DJANGO_DEBUG must be a boolean"),
    case(
        "DJANGO_SECRET_KEY",
        None,
        "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off",
        id_="DJANGO_SECRET_KEY-missing",
    ),
    case("DJANGO_SECRET_KEY", "change-me", "DJANGO_SECRET_KEY is still 'change-me'"),
    case("DJANGO_ALLOWED_HOSTS", "a.com,https://b.com", "DJANGO_ALLOWED_HOSTS items must each"),
    case("DJANGO_CSRF_TRUSTED_ORIGINS", "example.com", "DJANGO_CSRF_TRUSTED_ORIGINS items"),
    case("DATABASE_URL", "nosuchscheme://x", "DATABASE_URL is not a valid database URL"),
    case("DATABASE_POOL_MAX_SIZE", "-1", "DATABASE_POOL_MAX_SIZE must be at least 0"),
    case("POSTGRES_HOST", "${DB_HOST}", "POSTGRES_HOST contains an unexpanded reference"),
    case("POSTGRES_PORT", "5432/app", "POSTGRES_PORT must be an integer", **POSTGRES),
    case("POSTGRES_DB", "app_${ENV}", "POSTGRES_DB contains an unexpanded", **POSTGRES),
    case("POSTGRES_USER", "${USER}", "POSTGRES_USER contains an unexpanded", **POSTGRES),
    case("POSTGRES_PASSWORD", "change-me", "POSTGRES_PASSWORD is still 'change-me'", **POSTGRES),
    case("DATABASE_CONN_MAX_AGE", "1m", "DATABASE_CONN_MAX_AGE must be an integer", **POSTGRES),
    case("SQLITE_PATH", "${HOME}/db.sqlite3", "SQLITE_PATH contains an unexpanded reference"),
    case("SQLITE_TEST_PATH", "${TMP}/t.sqlite3", "SQLITE_TEST_PATH contains an unexpanded"),
    case("DJANGO_TIME_ZONE", "Mars/Olympus", "DJANGO_TIME_ZONE must be an IANA time zone"),
    case("DJANGO_STATIC_ROOT", "${APP}/static", "DJANGO_STATIC_ROOT contains an unexpanded"),
    case("REDIS_HOST", "redis:6379", "REDIS_HOST must be a host name or IP address"),
    case("REDIS_PORT", "six", "REDIS_PORT must be an integer"),
    case("REDIS_PASSWORD", "${SECRET}", "REDIS_PASSWORD contains an unexpanded reference"),
    case("REDIS_DB", "-1", "REDIS_DB must be at least 0"),
    case("CELERY_BROKER_URL", "localhost:6379", "CELERY_BROKER_URL must be a URL such as redis:"),
    case(
        "CELERY_BROKER_URL",
        "sqs://key:secret@",  # pragma: allowlist secret
        "CELERY_BROKER_URL must be a URL such as redis://host:port/... "
        "(scheme redis or rediss or amqp or amqps)",
        id_="CELERY_BROKER_URL-scheme",
    ),
    case("CELERY_RESULT_BACKEND", "redis://h:63o9/1", "CELERY_RESULT_BACKEND has a malformed port"),
    case("CELERY_MAX_COUNTDOWN", "0", "CELERY_MAX_COUNTDOWN must be at least 1"),
    case("CELERY_VISIBILITY_TIMEOUT", "1h", "CELERY_VISIBILITY_TIMEOUT must be an integer"),
    case("RABBITMQ_CONSUMER_TIMEOUT", "30m", "RABBITMQ_CONSUMER_TIMEOUT must be an integer"),
    case("CELERY_SOFT_SHUTDOWN_TIMEOUT", "inf", "CELERY_SOFT_SHUTDOWN_TIMEOUT must be a finite"),
    case("CELERY_PREFORK_NICE", "20", "CELERY_PREFORK_NICE must be at most 19"),
    case("CELERY_BEAT_LOCK_TIMEOUT", "1", "CELERY_BEAT_LOCK_TIMEOUT must be at least 3"),
    case("CELERY_LIVENESS_FILE", "${TMP}/alive", "CELERY_LIVENESS_FILE contains an unexpanded"),
    case("CELERY_LIVENESS_INTERVAL", "nan", "CELERY_LIVENESS_INTERVAL must be a finite number"),
    case("CELERY_WORKER_SEND_TASK_EVENTS", "maybe", "CELERY_WORKER_SEND_TASK_EVENTS must be"),
    case("OPS_CANARY_INTERVAL_SECONDS", "0.5", "OPS_CANARY_INTERVAL_SECONDS must be at least 1"),
    case("METRICS_ENABLED", "sometimes", "METRICS_ENABLED must be a boolean"),
    case("METRICS_PORT", "70000", "METRICS_PORT must be at most 65535"),
    case("RABBITMQ_MANAGEMENT_URL", "rabbit:15672", "RABBITMQ_MANAGEMENT_URL must be a URL"),
    case("LOG_LEVEL", "verbose", "LOG_LEVEL must be one of DEBUG, INFO"),
    case("LOG_FORMAT", "yaml", "LOG_FORMAT must be one of json, text"),
    case("SENTRY_DSN", "o1.ingest.sentry.io/2", "SENTRY_DSN must be a URL"),
    case("SENTRY_ENVIRONMENT", "${STAGE}", "SENTRY_ENVIRONMENT contains an unexpanded reference"),
    case("SENTRY_TRACES_SAMPLE_RATE", "2", "SENTRY_TRACES_SAMPLE_RATE must be at most 1"),
    case("DJANGO_TRUST_X_FORWARDED_PROTO", "https", "DJANGO_TRUST_X_FORWARDED_PROTO must be a"),
    case("DJANGO_SECURE_SSL_REDIRECT", "always", "DJANGO_SECURE_SSL_REDIRECT must be a boolean"),
    case("DJANGO_SECURE_HSTS_SECONDS", "1y", "DJANGO_SECURE_HSTS_SECONDS must be an integer"),
    case("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "all", "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS"),
    case("DJANGO_SECURE_HSTS_PRELOAD", "later", "DJANGO_SECURE_HSTS_PRELOAD must be a boolean"),
    case("DJANGO_SESSION_COOKIE_SECURE", "https", "DJANGO_SESSION_COOKIE_SECURE must be a"),
    case("DJANGO_CSRF_COOKIE_SECURE", "https", "DJANGO_CSRF_COOKIE_SECURE must be a boolean"),
]

# A good value for every variable, all at once: the checks above must not refuse real settings.
GOOD = {
    "DOTENV_DISABLED": "true",
    "DJANGO_DEBUG": "off",
    "DJANGO_SECRET_KEY": "a-generated-secret",  # pragma: allowlist secret
    "DJANGO_TRUST_X_FORWARDED_PROTO": "1",
    "DJANGO_SECURE_SSL_REDIRECT": "yes",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "0",
    "DJANGO_SECURE_HSTS_PRELOAD": "false",
    "DJANGO_SESSION_COOKIE_SECURE": "true",
    "DJANGO_CSRF_COOKIE_SECURE": "on",
    "DJANGO_ALLOWED_HOSTS": "example.com, .example.org,[2001:db8::1]",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://example.com,https://*.example.org,http://h:8000",
    "DATABASE_URL": "sqlite:////tmp/never-opened.sqlite3",
    "DATABASE_POOL_MAX_SIZE": "0",
    "POSTGRES_HOST": "db",
    "POSTGRES_PORT": "5433",
    "POSTGRES_DB": "app",
    "POSTGRES_USER": "app",
    "POSTGRES_PASSWORD": "p@ss:w/rd",  # pragma: allowlist secret
    "DATABASE_CONN_MAX_AGE": "60",
    "SQLITE_PATH": "/tmp/db.sqlite3",
    "SQLITE_TEST_PATH": "/tmp/test-db.sqlite3",
    "DJANGO_TIME_ZONE": "Europe/Paris",
    "DJANGO_STATIC_ROOT": "/tmp/static",
    "REDIS_HOST": "redis.internal",
    "REDIS_PORT": "6380",
    "REDIS_PASSWORD": "p@ss:w/rd#?%&x",  # pragma: allowlist secret
    "REDIS_DB": "2",
    "CELERY_BROKER_URL": "rediss://:secret@redis.internal:6380/0",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1",
    "CELERY_MAX_COUNTDOWN": "900",
    "CELERY_VISIBILITY_TIMEOUT": "3600",
    "RABBITMQ_CONSUMER_TIMEOUT": "3600",
    "CELERY_SOFT_SHUTDOWN_TIMEOUT": "7.5",
    "CELERY_PREFORK_NICE": "5",
    "CELERY_BEAT_LOCK_TIMEOUT": "12",
    "CELERY_LIVENESS_FILE": "/tmp/worker.alive",
    "CELERY_LIVENESS_INTERVAL": "0.5",
    "CELERY_WORKER_SEND_TASK_EVENTS": "1",
    "OPS_CANARY_INTERVAL_SECONDS": "30",
    "METRICS_ENABLED": "1",
    "METRICS_PORT": "9101",
    "RABBITMQ_MANAGEMENT_URL": "http://guest:guest@127.0.0.1:15672",  # pragma: allowlist secret
    "LOG_LEVEL": "warning",
    "LOG_FORMAT": "text",
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
    "SENTRY_ENVIRONMENT": "staging",
    "SENTRY_TRACES_SAMPLE_RATE": "0.1",
}


globals().update(
    startup_tests(
        BAD,
        GOOD,
        sources=[BACKEND / "config" / "environment.py", BACKEND / "config" / "settings.py"],
        example=REPO_DIR / ".env.example",
    )
)


def test_good_configuration_starts():
    result = start(manage("check"))

    assert result.returncode == 0, result.stderr


def test_env_example_as_is_starts_in_debug_only():
    # .env.example holds "change-me" secrets: fine for development, refused in production.
    example = {k: v for k, v in dotenv_values(REPO_DIR / ".env.example").items() if v is not None}

    assert start(manage("check"), **{**example, "DJANGO_DEBUG": "1"}).returncode == 0
    refused = start(manage("check"), **example)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is still 'change-me'" in refused.stderr


RABBITMQ_BROKER = "amqp://app:s3cret@rabbitmq:5672/app"  # pragma: allowlist secret
SHOW_BROKER = (
    "from django.conf import settings; from config.celery import app; "
    "print(settings.CELERY_RESULT_BACKEND, app.conf.broker_transport, "
    "sorted(app.conf.broker_transport_options.items()))"
)


def test_a_rabbitmq_broker_is_accepted_and_results_stay_in_redis():
    # Given RabbitMQ as the broker and Redis given by its parts
    environment = {"CELERY_BROKER_URL": RABBITMQ_BROKER, "REDIS_HOST": "redis", "REDIS_DB": "1"}
    # When a process reads the settings
    shown = start(manage("shell", "-v", "0", "-c", SHOW_BROKER), **environment)
    # Then results go to Redis, not to the broker, with kombu's AMQP transport and confirms
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split(" ", 2) == [
        "redis://redis:6379/1",
        "None",
        "[('confirm_publish', True)]\n",
    ]
    # and the system checks pass, RabbitMQ's consumer_timeout covering the countdown cap
    assert start(manage("check"), **environment).returncode == 0


def test_a_redis_broker_keeps_the_visibility_timeout_and_its_own_transport():
    shown = start(manage("shell", "-v", "0", "-c", SHOW_BROKER), CELERY_VISIBILITY_TIMEOUT="7200")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split(" ", 2) == [
        "redis://127.0.0.1:6379/0",
        "ops.overrides.redis_transport:Transport",
        "[('visibility_timeout', 7200)]\n",
    ]


def test_a_consumer_timeout_shorter_than_a_held_countdown_task_fails_the_checks():
    result = start(
        manage("check"), CELERY_BROKER_URL=RABBITMQ_BROKER, RABBITMQ_CONSUMER_TIMEOUT="900"
    )

    assert result.returncode != 0
    assert "ops.E020" in result.stderr
    assert "RABBITMQ_CONSUMER_TIMEOUT=900s" in result.stderr


def test_unexpanded_broker_url_stops_a_worker_before_it_consumes(private_redis):
    # The incident: the literal text became the Redis password.
    result = start(
        celery_worker(),
        REDIS_PORT=str(private_redis.port),
        CELERY_BROKER_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
    )

    assert result.returncode != 0
    assert "CELERY_BROKER_URL contains an unexpanded reference '${REDIS_PASSWORD}'" in (
        result.stderr + result.stdout
    )
    assert "Traceback" not in result.stderr
