"""Live checks against a running system: what `manage.py doctor` reports.

Static configuration drift is covered by the system checks (ops.checks); these ask the running
processes themselves: the broker, each worker node the topology expects (its pool and queues as
the worker reports them), queue depths, beat's heartbeat, and a round trip through every queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from amqp.exceptions import AMQPError
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import OperationalError

from config.env import is_redis_url
from config.topology import WorkerService
from ops.liveness import BEAT_ALIVE_KEY, BEAT_ALIVE_TTL
from ops.metrics.queues import queue_read

# What `inspect stats` reports as pool.implementation, by pool name.
POOL_IMPLEMENTATIONS = {
    "celery.concurrency.gevent:TaskPool": "gevent",
    "celery.concurrency.prefork:TaskPool": "prefork",
    "celery.concurrency.solo:TaskPool": "solo",
    "celery.concurrency.thread:TaskPool": "threads",
    "celery.concurrency.eventlet:TaskPool": "eventlet",
}
QUEUE_BACKLOG_WARNING = 1000


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    status: Status
    subject: str
    detail: str
    hint: str = ""


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def check_broker_connection(app: Celery[Any]) -> Finding | None:
    """Why the broker does not answer CELERY_BROKER_URL, or None when it does.

    Answering includes taking the URL's credentials: RabbitMQ logs in on connect, and kombu's Redis
    channel sends PING on connect, which a Redis with a password refuses from a client without one.
    """
    url = app.conf.broker_url
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except (OperationalError, OSError) as exc:
        message = str(exc)
        hint = "Is Redis running and is REDIS_HOST/REDIS_PORT right?"
        if not is_redis_url(url):
            hint = (
                "Is RabbitMQ running, and are CELERY_BROKER_URL's user, password and vhost right "
                "(the user needs permissions on that vhost)?"
            )
        elif "password" in message.lower() or "auth" in message.lower():
            if urlsplit(url).password:
                hint = (
                    "Redis rejected the credentials: REDIS_PASSWORD must be the server's password "
                    "as plain text (no ${...}); config.settings URL-quotes it."
                )
            else:
                hint = "Redis wants a password: set REDIS_PASSWORD to the server's (plain text)."
        return Finding(Status.FAIL, "broker", f"{redact(url)}: {message}", hint)
    return None


def check_broker_authentication(app: Celery[Any]) -> Finding:
    """Whether the broker that answered wants a password: a warning in development when it does
    not, an error with DEBUG off, since anyone who reaches it reads and sends tasks.

    Redis is asked directly, without the URL's credentials: one with no password configured
    accepts any password, so a password in the URL alone proves nothing. RabbitMQ always logs a
    client in; without a password in the URL, kombu sends the default one (guest).
    """
    url = app.conf.broker_url
    password = urlsplit(url).password
    if is_redis_url(url):
        try:
            open_to_anyone = _redis_answers_anyone(url)
        except redis.RedisError as exc:
            return Finding(Status.FAIL, "broker", f"{redact(url)}: asked without a password: {exc}")
        if not open_to_anyone:
            return Finding(Status.OK, "broker", f"{redact(url)} reachable and authenticated")
        seen = (
            "Redis answers without a password, so CELERY_BROKER_URL's is never checked"
            if password
            else "no password in CELERY_BROKER_URL"
        )
        hint = (
            "Anyone who reaches this Redis reads and sends tasks: run it with --requirepass (as "
            "Compose does) and set REDIS_PASSWORD to that password (docs/security.md)."
        )
    elif password:
        return Finding(Status.OK, "broker", f"{redact(url)} reachable and authenticated")
    else:
        seen = "no password in CELERY_BROKER_URL"
        hint = (
            "kombu sent its default password (guest): give this deployment a RabbitMQ user of its "
            "own and put its password in CELERY_BROKER_URL (docs/rabbitmq.md)."
        )
    return Finding(
        Status.WARN if settings.DEBUG else Status.FAIL,
        "broker",
        f"{redact(url)} reachable, unauthenticated ({seen})",
        hint,
    )


def _redis_answers_anyone(url: str) -> bool:
    """Whether the Redis at ``url`` answers a client that gives no user or password."""
    parts = urlsplit(url)
    anonymous = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    with redis.Redis.from_url(anonymous, socket_timeout=3, socket_connect_timeout=3) as client:
        try:
            client.ping()
        except redis.AuthenticationError:
            return False
    return True


def _pool_name(stats: dict[str, Any]) -> str:
    implementation = str(stats.get("pool", {}).get("implementation", "?"))
    return POOL_IMPLEMENTATIONS.get(implementation, implementation)


def check_workers(
    app: Celery[Any], workers: Iterable[WorkerService], *, timeout: float = 3.0
) -> list[Finding]:
    inspect = app.control.inspect(timeout=timeout)
    stats: dict[str, Any] = inspect.stats() or {}
    active_queues: dict[str, Any] = inspect.active_queues() or {}
    findings: list[Finding] = []
    expected_prefixes = set()
    for worker in workers:
        prefix = f"{worker.node}@"
        expected_prefixes.add(prefix)
        nodes = sorted(n for n in stats if n.startswith(prefix))
        if not nodes:
            findings.append(
                Finding(
                    Status.FAIL,
                    worker.service,
                    f"no node {prefix}* answered within {timeout:g}s, so queue(s) "
                    f"{', '.join(worker.queues)} are not being consumed",
                    f"Start it: `docker compose up -d {worker.service}` "
                    f"(or `make run`), then `docker compose logs {worker.service}`.",
                )
            )
            continue
        for node in nodes:
            pool = _pool_name(stats[node])
            concurrency = stats[node].get("pool", {}).get("max-concurrency")
            queues = sorted(q["name"] for q in active_queues.get(node, []))
            problems = []
            if pool != worker.pool:
                problems.append(f"pool is {pool}, topology says {worker.pool}")
            if queues != sorted(worker.queues):
                problems.append(f"consumes {queues}, topology says {sorted(worker.queues)}")
            if pool == "gevent" and concurrency == 1:
                problems.append("gevent with concurrency 1")
            detail = f"{node}: pool={pool} concurrency={concurrency} queues={','.join(queues)}"
            if problems:
                findings.append(
                    Finding(
                        Status.FAIL,
                        worker.service,
                        f"{detail} ({'; '.join(problems)})",
                        f"Run {worker.service} with the command in docker-compose.yml; choose the "
                        "pool with -P on the command line, never in settings.",
                    )
                )
            else:
                findings.append(Finding(Status.OK, worker.service, detail))
    strangers = sorted(n for n in stats if not any(n.startswith(p) for p in expected_prefixes))
    for node in strangers:
        consumed = ",".join(q["name"] for q in active_queues.get(node, []))
        findings.append(
            Finding(
                Status.WARN,
                node,
                f"a worker not in config.topology consumes {consumed or 'nothing'}",
                "Name worker nodes as the topology does (-n io@%h / cpu@%h) or stop it.",
            )
        )
    return findings


def _redis() -> redis.Redis:
    """The Redis beat and the canaries report to (the broker itself, when that is Redis)."""
    return redis.Redis.from_url(settings.OPS_REDIS_URL, socket_timeout=3)


def check_queue_depths(app: Celery[Any], queues: Iterable[str]) -> list[Finding]:
    findings = []
    with app.connection_for_read() as connection:
        for queue in queues:
            reading = queue_read(connection, queue, timeout=3)
            status = Status.WARN if reading.length >= QUEUE_BACKLOG_WARNING else Status.OK
            hint = "Consumers are falling behind: scale the worker out." if reading.length else ""
            if reading.oldest_age is None:
                age = ", oldest: unknown (RabbitMQ: set RABBITMQ_MANAGEMENT_URL)"
            elif reading.length:
                age = f", the oldest due {reading.oldest_age:.0f}s ago"
            else:
                age = ""
            findings.append(
                Finding(status, f"queue {queue}", f"{reading.length} waiting{age}", hint)
            )
    if is_redis_url(app.conf.broker_url):
        # RabbitMQ keeps no such record a client can read (its management UI shows it).
        with redis.Redis.from_url(app.conf.broker_url, socket_timeout=3) as client:
            unacked = int(client.hlen("unacked"))
        findings.append(
            Finding(Status.OK, "unacked", f"{unacked} reserved or scheduled by workers")
        )
    return findings


def check_beat(app: Celery[Any]) -> Finding:
    try:
        with _redis() as client:
            raw = client.get(BEAT_ALIVE_KEY)
    except redis.RedisError as exc:
        return Finding(Status.FAIL, "beat", f"could not read its heartbeat: {exc}")
    if raw is None:
        return Finding(
            Status.FAIL,
            "beat",
            f"no heartbeat in the last {BEAT_ALIVE_TTL}s",
            "Start it: `docker compose up -d beat` (exactly one beat per deployment).",
        )
    age = time.time() - float(raw)
    return Finding(Status.OK, "beat", f"alive, last heartbeat {age:.0f}s ago")


def check_canaries(app: Celery[Any], queues: Iterable[str], *, interval: float) -> list[Finding]:
    """When beat's canary last came through each queue, and which node consumed it."""
    from ops.tasks import CANARY_KEY

    with _redis() as client:
        seen = {k.decode(): v.decode() for k, v in client.hgetall(CANARY_KEY).items()}
    findings = []
    for queue in queues:
        if queue not in seen:
            findings.append(
                Finding(
                    Status.WARN,
                    f"canary {queue}",
                    "beat's canary has not come through yet",
                    f"Expected within {interval:g}s of beat and the worker starting.",
                )
            )
            continue
        timestamp, node = seen[queue].split(" ", 1)
        age = time.time() - float(timestamp)
        status = Status.OK if age <= 3 * interval else Status.WARN
        findings.append(
            Finding(
                status,
                f"canary {queue}",
                f"last consumed {age:.0f}s ago by {node}",
                "Beat or the queue's worker has stalled." if status is Status.WARN else "",
            )
        )
    return findings


def check_round_trips(
    app: Celery[Any], queues: Iterable[str], *, timeout: float = 10.0
) -> list[Finding]:
    """Send the probe task to each queue and wait for whichever worker consumes it to answer."""
    from ops.tasks import probe

    # expires: a probe nobody consumed in time is dropped, not left to pile up in the queue.
    pending = {queue: probe.apply_async(queue=queue, expires=timeout) for queue in queues}
    findings = []
    deadline = time.monotonic() + timeout
    for queue, result in pending.items():
        try:
            answer = result.get(timeout=max(0.1, deadline - time.monotonic()))
        except CeleryTimeoutError:
            result.forget()
            findings.append(
                Finding(
                    Status.FAIL,
                    f"round trip {queue}",
                    f"no worker ran a probe sent to {queue!r} within {timeout:g}s",
                    "Check that the worker consuming it is running and not saturated.",
                )
            )
            continue
        findings.append(
            Finding(Status.OK, f"round trip {queue}", f"answered by {answer['hostname']}")
        )
    return findings


def _reading(subject: str, source: str, read: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return read()
    except (redis.RedisError, AMQPError, OperationalError, OSError, DatabaseError) as exc:
        return [Finding(Status.FAIL, subject, f"could not read {source}: {exc}")]


def run(
    app: Celery[Any],
    workers: tuple[WorkerService, ...],
    *,
    timeout: float = 3.0,
    canary_interval: float = 60.0,
    app_checks: dict[str, Callable[[], list[Finding]]] | None = None,
) -> list[Finding]:
    """Every live check; ``app_checks`` are the apps' own (``doctor.CHECKS``, config.discovery),
    reported after the core's."""
    unreachable = check_broker_connection(app)
    if unreachable is not None:
        return [unreachable]
    # An unauthenticated broker fails the doctor with DEBUG off; the other checks still run.
    broker = check_broker_authentication(app)
    worker_findings = check_workers(app, workers, timeout=timeout)
    queues = sorted({str(q) for w in workers for q in w.queues})
    return [
        broker,
        *worker_findings,
        *_reading("queues", "the broker", lambda: check_queue_depths(app, queues)),
        check_beat(app),
        *_reading(
            "canaries", "Redis", lambda: check_canaries(app, queues, interval=canary_interval)
        ),
        *check_round_trips(app, queues, timeout=max(timeout, 5.0)),
        *(
            finding
            for subject, check in (app_checks or {}).items()
            for finding in _reading(subject, "its data", check)
        ),
    ]
