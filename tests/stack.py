"""The process stack: Compose services started as real local processes for the tests.

``stack.ensure("worker-io", SOME_VAR="x")`` starts the worker with the exact command from
docker-compose.yml (environment adapted to this machine: the private Redis and the test
database) and waits until the node answers a ping. A service already running with the same
environment is reused across tests; a different environment restarts it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from celery import Celery
from django.conf import settings

from config.topology import WORKERS, WorkerService
from devstack.compose import COMPOSE_FILES, Service, load_services
from devstack.processes import ServiceProcess, service_environment
from ops.overrides.beat import LAST_RUN_KEY, LOCK_KEY
from tests.broker import BrokerView

READY_TIMEOUT = 60.0
T = TypeVar("T")


def wait_until(predicate: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def unacked_drained(client: redis.Redis, timeout: float = 10) -> None:
    """Wait until kombu's ``unacked`` hash is empty; fail naming the tasks still in it."""
    try:
        wait_until(lambda: client.hlen("unacked") == 0, timeout=timeout)
    except AssertionError:
        held = []
        for tag, raw in client.hgetall("unacked").items():
            headers = json.loads(raw)[0]["headers"]
            held.append(f"{tag!r}: {headers.get('task')}[{headers.get('id')}] {headers.get('eta')}")
        raise AssertionError(f"{len(held)} message(s) left in unacked: {held}") from None


def worker_for(service_name: str) -> WorkerService:
    return next(w for w in WORKERS if w.service == service_name)


def node_name(service_name: str) -> str:
    return worker_for(service_name).node_name(socket.gethostname())


def wait_for_node(app: Celery[Any], node: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if app.control.ping(destination=[node], timeout=0.5):
                return
        except app.connection_for_write().connection_errors:
            # A pooled connection to a Redis that restarted: the next try opens a new one.
            time.sleep(0.2)
    raise TimeoutError(f"worker {node} did not answer a ping within {timeout:.0f}s")


@dataclasses.dataclass(frozen=True)
class Stopped:
    code: int | None
    seconds: float
    log: str


class Stack:
    def __init__(self, app: Celery[Any], base_env: dict[str, str], log_dir: Path) -> None:
        self.app = app
        self.base_env = base_env
        self.log_dir = log_dir
        self.processes: dict[str, ServiceProcess] = {}
        self._logs: dict[str, Any] = {}

    def service(self, name: str, env: dict[str, str]) -> Service:
        # The deployable file only: the dev override's addresses are not for tests.
        return load_services(env, [name], files=COMPOSE_FILES[:1])[name]

    def ensure(
        self,
        name: str,
        include: str = "",
        *,
        wait: bool = True,
        instance: str = "",
        **overrides: str,
    ) -> ServiceProcess:
        """Run the service (restarting it if its environment differs); ``include`` names a
        module of extra tasks for a worker (``celery worker --include``); ``wait=False`` does not
        wait for a worker to answer (its broker may be down on purpose); ``instance`` runs one
        more copy of the service under that name (a second beat, or another worker node named
        ``<instance>@host``)."""
        key = instance or name
        env = {**self.base_env, **overrides}
        service = self.service(name, env)
        if include:
            service = dataclasses.replace(
                service, command=(*service.command, f"--include={include}")
            )
        if instance and name.startswith("worker-"):
            # Another node of the same worker: a node name of its own (Celery's -n).
            command = list(service.command)
            command[command.index("-n") + 1] = f"{instance}@%h"
            service = dataclasses.replace(service, command=tuple(command))
        wanted = {**service_environment(service, env), **overrides}
        current = self.processes.get(key)
        if (
            current is not None
            and current.alive()
            and current.env == wanted
            and current.service.command == service.command
        ):
            return current
        if current is not None:
            self.stop(key)
        log = (self.log_dir / f"{key}.log").open("a")
        previous = self._logs.pop(key, None)
        if previous is not None:
            previous.close()
        self._logs[key] = log
        process = ServiceProcess(service, wanted, log).start()
        self.processes[key] = process
        if name.startswith("worker-") and wait and not instance:
            try:
                wait_for_node(self.app, node_name(name))
            except TimeoutError:
                process.stop(5)
                raise TimeoutError(f"{name} did not start; its log:\n{self.log(name)}") from None
        return process

    def stop(self, name: str, timeout: float = 45.0) -> int | None:
        process = self.processes.pop(name, None)
        return process.stop(timeout) if process is not None else None

    def stop_watched(self, name: str, timeout: float = 45.0) -> Stopped:
        """Stop a service; its exit code, how long the stop took, and what it logged meanwhile."""
        log_before = len(self.log(name))
        started = time.monotonic()
        code = self.stop(name, timeout)
        return Stopped(code, time.monotonic() - started, self.log(name)[log_before:])

    def kill(self, name: str) -> None:
        """SIGKILL: the worker gets no chance to requeue or acknowledge anything."""
        process = self.processes.pop(name)
        process.signal(signal.SIGKILL)
        process.wait(10)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for log in self._logs.values():
            log.close()


def _test_database_env() -> dict[str, str]:
    """Point worker processes at the test database pytest-django created."""
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return {"SQLITE_PATH": str(settings["NAME"])}
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{auth}{host}:{port}/{settings['NAME']}"}


@pytest.fixture(scope="session")
def stack(django_db_setup: None, django_db_blocker: Any, session_dir: Path) -> Iterator[Stack]:
    from config.celery import app

    with django_db_blocker.unblock():
        database_env = _test_database_env()
    base_env = {
        **os.environ,
        **database_env,
        "LOG_LEVEL": "INFO",
        # Soft shutdown always waits its whole timeout; keep restarts between tests short.
        "CELERY_SOFT_SHUTDOWN_TIMEOUT": "1",
        # No scrape endpoints: tests run at once would compete for the port (a test asks).
        "METRICS_PORT": "0",
    }
    base_env.pop("POSTGRES_HOST", None)
    log_dir = session_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    running = Stack(app, base_env, log_dir)
    yield running
    running.stop_all()


@pytest.fixture
def clean_queues(stack: Stack, broker: BrokerView) -> Iterator[None]:
    """Empty the queues, the Redis transport's record of messages held by workers, and beat's
    lock and record of runs, before and after a test so nothing leaks into the next one."""

    def empty() -> None:
        stack.app.control.purge()
        broker.forget_held()
        with redis.Redis.from_url(settings.OPS_REDIS_URL) as client:
            client.delete(LOCK_KEY, LAST_RUN_KEY)

    empty()
    yield
    empty()
