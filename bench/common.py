"""What every benchmark needs: a private Redis, a private PostgreSQL (or a throwaway database
given with --database-url), Django set up, and worker services started with their
docker-compose.yml commands."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO

from celery import Celery

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path[:0] = [str(REPO / "backend"), str(REPO)]

from devstack.compose import COMPOSE_FILES, Service, load_services  # noqa: E402
from devstack.postgres_server import PrivatePostgres  # noqa: E402
from devstack.processes import ServiceProcess, service_environment  # noqa: E402
from devstack.redis_server import PrivateRedis  # noqa: E402


def bench_parser(description: str | None, *, concurrency: list[int]) -> argparse.ArgumentParser:
    """The options every benchmark shares; each adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--concurrency", type=int, nargs="+", default=concurrency)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run at most")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a throwaway database (default: a private PostgreSQL started for the run)",
    )
    return parser


class Servers:
    """The private servers of one benchmark run; ``stop()`` ends them."""

    def __init__(self, redis_server: PrivateRedis, postgres: PrivatePostgres | None) -> None:
        self.redis = redis_server
        self.postgres = postgres

    def stop(self) -> None:
        self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def bench_setup(workdir: Path, *, database_url: str | None, **env: str) -> Servers:
    """Start a private Redis (and PostgreSQL unless ``database_url``), point the environment at
    them, migrate."""
    redis_server = PrivateRedis(workdir / "redis").start()
    postgres = None
    if not database_url:
        # pg_stat_statements, for a benchmark that counts the SQL statements a task costs.
        postgres = PrivatePostgres(
            workdir / "postgres", {"shared_preload_libraries": "pg_stat_statements"}
        ).start()
        database_url = postgres.url
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_PASSWORD", "POSTGRES_HOST"):
        os.environ.pop(name, None)
    os.environ.update(
        DOTENV_DISABLED="1",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret",  # noqa: S106  # pragma: allowlist secret (throwaway)
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(redis_server.port),
        REDIS_DB="0",
        LOG_LEVEL="WARNING",
        CELERY_SOFT_SHUTDOWN_TIMEOUT="1",
        **env,
    )
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Servers(redis_server, postgres)


def worker_start(
    service_name: str,
    log: IO[str],
    *,
    command_edit: tuple[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    instance: str = "",
    **env: str,
) -> ServiceProcess:
    """Start a worker service with its compose command and wait until its node answers.

    ``command_edit`` (old, new) replaces one word of the command, e.g. the pool; ``extra_args``
    are added to it; ``instance`` runs one more of the service, its node named
    ``<instance>@host``."""
    from config.celery import app
    from config.topology import WORKERS

    environ = {**os.environ, **env}
    service = load_services(environ, [service_name], files=COMPOSE_FILES[:1])[service_name]
    command = list(service.command)
    if command_edit:
        old, new = command_edit
        command = [new if a == old else a for a in command]
    if instance:
        command[command.index("-n") + 1] = f"{instance}@%h"
        service = replace(service, name=instance)
    service = replace(service, command=(*command, *extra_args))
    worker = ServiceProcess(service, {**service_environment(service, environ), **env}, log).start()
    topology = next(w for w in WORKERS if w.service == service_name)
    host = socket.gethostname()
    node = f"{instance}@{host}" if instance else topology.node_name(host)
    return _answering(worker, app, node, log)


def bare_worker_start(
    log: IO[str], *, concurrency: int, include: tuple[Path, ...] = ()
) -> ServiceProcess:
    """Start bench/bare_app.py's gevent worker (the baseline) and wait until it answers.

    ``include``: modules (files) that register more baseline tasks on the bare app; the worker
    loads each with ``--include``, its folder on PYTHONPATH."""
    import bare_app

    node = f"bare@{socket.gethostname()}"
    command = ("celery", "-A", "bare_app", "worker", "-P", "gevent", "-c", str(concurrency))
    command += ("-Q", bare_app.QUEUE, "-n", node, "--loglevel=WARNING")
    for module in include:
        command += ("--include", module.stem)
    service = Service("bare", command)
    path = [str(BENCH_DIR), *dict.fromkeys(str(module.parent) for module in include)]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    worker = ServiceProcess(service, service_environment(service, environ), log).start()
    return _answering(worker, bare_app.app, node, log)


def _answering(worker: ServiceProcess, app: Celery, node: str, log: IO[str]) -> ServiceProcess:
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[node], timeout=0.5):
        if time.monotonic() > deadline or not worker.alive():
            worker.stop(5)
            raise SystemExit(f"{worker.name} did not start; see {log.name}")
    return worker
