"""System checks that fail ``manage.py check`` when routing, beat and workers drift apart.

Everything a route, a task's own ``queue`` or a beat entry can send to must be consumed by a
worker in ``config.topology``; pools must suit the work; the Redis visibility timeout must cover
the longest countdown plus the longest run time; a CELERY_* setting nothing reads is refused.
Each function takes its inputs explicitly so the tests can feed it a drifted configuration.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from celery.exceptions import QueueNotFound
from celery.schedules import crontab, maybe_schedule
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import autodiscover_modules

from config.discovery import worker_schedule
from config.env import is_redis_url
from config.periodic import BEAT_KEYS, WORKER_KEYS, interval_seconds
from config.queues import QUEUE_WORKLOAD, Workload
from config.topology import WORKERS, WorkerService, consumed_queues


def _queue_name(route: Mapping[str, Any]) -> str:
    queue = route.get("queue")
    return getattr(queue, "name", None) or str(queue)


def _route(app: Celery[Any], task_name: str, options: Mapping[str, Any]) -> str:
    return _queue_name(app.amqp.router.route(dict(options), task_name))


def check_routes(app: Celery[Any], workers: tuple[WorkerService, ...]) -> list[CheckMessage]:
    """Every registered task and every declared queue reaches a consuming worker."""
    consumed = consumed_queues(workers)
    problems: list[CheckMessage] = []
    for queue in app.amqp.queues:
        if queue not in consumed:
            problems.append(
                Error(
                    f"Queue {queue!r} is declared but no worker in config.topology consumes it.",
                    hint="Add it to a WorkerService's queues (and to that service in "
                    "docker-compose.yml), or remove it.",
                    id="ops.E001",
                )
            )
    for name in sorted(n for n in app.tasks if not n.startswith("celery.")):
        try:
            queue = _route(app, name, {})
        except QueueNotFound as exc:
            problems.append(
                Error(
                    f"Task {name!r} routes to queue {exc.args[0]!r}, which is not declared.",
                    hint="Route it to a queue in config.queues.Queue.",
                    id="ops.E002",
                )
            )
            continue
        if queue not in consumed:
            problems.append(
                Error(
                    f"Task {name!r} routes to queue {queue!r}, which no worker consumes.",
                    hint="Change the app's routes.py (or config.queues.CORE_ROUTES) or the "
                    "task's queue, or add a worker for that queue to config.topology.",
                    id="ops.E003",
                )
            )
    return problems


def _scheduled_entry(
    app: Celery[Any],
    consumed: set[str],
    label: str,
    task_name: str,
    options: Mapping[str, Any],
    ids: tuple[str, str, str],
) -> list[CheckMessage]:
    """A schedule entry (beat's or the workers') names a registered task on a consumed queue."""
    unknown, undeclared, unconsumed = ids
    problems: list[CheckMessage] = []
    if task_name not in app.tasks:
        problems.append(
            Error(f"{label} sends {task_name!r}, which is not a registered task.", id=unknown)
        )
    try:
        queue = _route(app, task_name, options)
    except QueueNotFound as exc:
        problems.append(
            Error(f"{label} sends to queue {exc.args[0]!r}, which is not declared.", id=undeclared)
        )
        return problems
    if queue not in consumed:
        problems.append(
            Error(
                f"{label} sends {task_name!r} to queue {queue!r}, which no worker consumes.",
                hint="Fix the entry's queue or the route, or add a worker for it.",
                id=unconsumed,
            )
        )
    return problems


def check_beat(
    app: Celery[Any], schedule: Mapping[str, Mapping[str, Any]], workers: tuple[WorkerService, ...]
) -> list[CheckMessage]:
    """Every beat entry names a registered task, lands on a consumed queue and expires, within
    its interval."""
    consumed = consumed_queues(workers)
    problems: list[CheckMessage] = []
    for entry_name, entry in schedule.items():
        problems += _unread_keys(f"Beat entry {entry_name!r}", entry, BEAT_KEYS)
        options = entry.get("options", {})
        problems += _scheduled_entry(
            app,
            consumed,
            f"Beat entry {entry_name!r}",
            entry["task"],
            options,
            ("ops.E004", "ops.E005", "ops.E006"),
        )
        if "expires" not in options:
            problems.append(
                Warning(
                    f"Beat entry {entry_name!r} has no options.expires: after downtime a backlog "
                    "of stale runs would be replayed.",
                    id="ops.W001",
                )
            )
            continue
        every = shortest_interval(entry["schedule"])
        expires = options["expires"]
        if every is not None and isinstance(expires, int | float) and expires > every:
            problems.append(
                Warning(
                    f"Beat entry {entry_name!r} expires after {expires:g} s but runs every "
                    f"{every:g} s: a run that waited for a worker can still run after the next "
                    "one was sent, twice in a row.",
                    hint="Make options.expires at most the interval.",
                    id="ops.W002",
                )
            )
    return problems


def check_worker_schedule(
    app: Celery[Any], schedule: Mapping[str, Mapping[str, Any]], workers: tuple[WorkerService, ...]
) -> list[CheckMessage]:
    """Every ``WORKER_SCHEDULE`` entry (ops.worker_schedule) names a registered task, routes to a
    queue some worker consumes (only those workers run it), and repeats after a positive time."""
    consumed = consumed_queues(workers)
    problems: list[CheckMessage] = []
    for entry_name, entry in schedule.items():
        label = f"Worker schedule entry {entry_name!r}"
        problems += _scheduled_entry(
            app, consumed, label, entry["task"], {}, ("ops.E007", "ops.E008", "ops.E009")
        )
        problems += _unread_keys(label, entry, WORKER_KEYS)
        every = interval_seconds(entry.get("schedule"))
        if every is None or every <= 0:
            problems.append(
                Error(
                    f"{label} has schedule={entry.get('schedule')!r}; workers repeat an entry on "
                    "an interval: a number of seconds > 0 or a timedelta.",
                    hint="A crontab belongs in BEAT_SCHEDULE.",
                    id="ops.E013",
                )
            )
    return problems


def _unread_keys(label: str, entry: Mapping[str, Any], read: frozenset[str]) -> list[CheckMessage]:
    """A key its runner does not read: a typo or ``options`` on a worker entry would be ignored,
    and beat would stop at start on it (``ScheduleEntry`` takes no other keyword)."""
    return [
        Error(
            f"{label} has {key!r}, which its runner does not read.",
            hint=f"An entry has {', '.join(sorted(read))} (config.periodic).",
            id="ops.E023",
        )
        for key in sorted(set(entry) - read)
    ]


def shortest_interval(schedule: Any) -> float | None:
    """Seconds between an entry's closest two runs: its interval, or for a crontab the shortest
    gap over a week, minute by minute (None for a crontab rarer than that)."""
    every = interval_seconds(schedule)
    if every is not None:
        return every
    schedule = maybe_schedule(schedule)
    if not isinstance(schedule, crontab):
        return None
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    runs = [
        minute
        for minute in range(8 * 24 * 60)
        if _crontab_matches(schedule, start + timedelta(minutes=minute))
    ]
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    return 60.0 * min(gaps) if gaps else None


def _crontab_matches(schedule: Any, moment: datetime) -> bool:
    # A crontab's fields are sets of the minutes, hours, ... it runs at (the stubs omit them).
    return (
        moment.minute in schedule.minute
        and moment.hour in schedule.hour
        and moment.isoweekday() % 7 in schedule.day_of_week
        and moment.day in schedule.day_of_month
        and moment.month in schedule.month_of_year
    )


def check_pools(app: Celery[Any], workers: tuple[WorkerService, ...]) -> list[CheckMessage]:
    """No solo pool, no pool in settings, gevent only on I/O-bound queues."""
    problems: list[CheckMessage] = []
    if "worker_pool" in (app.conf.changes or {}):
        problems.append(
            Error(
                f"worker_pool is set in the Celery configuration ({app.conf.worker_pool!r}).",
                hint="Choose the pool on each worker's command line (-P gevent / -P prefork): "
                "the setting overrides -P, and gevent set there leaves the process unpatched.",
                id="ops.E010",
            )
        )
    for worker in workers:
        if worker.pool == "solo":
            problems.append(
                Error(
                    f"{worker.service} uses the solo pool, which runs one task at a time "
                    "whatever --concurrency says.",
                    hint="Use gevent for I/O-bound queues and prefork for CPU-bound ones.",
                    id="ops.E011",
                )
            )
        if worker.pool == "gevent":
            cpu_queues = [q for q in worker.queues if QUEUE_WORKLOAD.get(q) != Workload.IO_BOUND]
            if cpu_queues:
                problems.append(
                    Error(
                        f"{worker.service} runs gevent on {', '.join(cpu_queues)}, which is not an "
                        "I/O-bound queue: one CPU-bound greenlet stalls every other task in it.",
                        hint="Consume CPU-bound queues with a prefork worker.",
                        id="ops.E012",
                    )
                )
    return problems


def longest_time_limit(app: Celery[Any], task_names: Iterable[str]) -> float:
    limits = [app.conf.task_time_limit or 0]
    limits += [getattr(app.tasks[name], "time_limit", None) or 0 for name in task_names]
    return float(max(limits))


def check_visibility_timeout(
    app: Celery[Any],
    *,
    max_countdown: float,
    visibility_timeout: float,
    setting: str = "CELERY_VISIBILITY_TIMEOUT",
) -> list[CheckMessage]:
    """A held countdown message must not outlive the time after which the broker delivers it
    again: Redis's visibility timeout, or RabbitMQ's consumer_timeout (``setting`` names it)."""
    problems: list[CheckMessage] = []
    longest = longest_time_limit(app, [n for n in app.tasks if not n.startswith("celery.")])
    if visibility_timeout <= max_countdown + longest:
        problems.append(
            Error(
                f"The broker's redelivery timeout ({setting}={visibility_timeout:g}s) does not "
                f"exceed the countdown cap ({max_countdown:g}s) plus the longest task time "
                f"limit ({longest:g}s): the broker would deliver such tasks again while they "
                "wait or run.",
                hint=f"Raise {setting} or lower CELERY_MAX_COUNTDOWN.",
                id="ops.E020",
            )
        )
    for name in app.tasks:
        backoff_max = getattr(app.tasks[name], "retry_backoff_max", 0) or 0
        if not name.startswith("celery.") and backoff_max > max_countdown:
            problems.append(
                Error(
                    f"Task {name!r} may retry after {backoff_max}s, above the countdown cap "
                    f"({max_countdown:g}s).",
                    hint="Lower its retry_backoff_max.",
                    id="ops.E021",
                )
            )
    return problems


def check_celery_settings(
    settings_names: Iterable[str],
    variables: Iterable[str],
    *,
    read: frozenset[str],
    read_elsewhere: frozenset[str],
) -> list[CheckMessage]:
    """A CELERY_* setting nothing reads is an error, and a CELERY_* environment variable nothing
    reads a warning: config.celery maps the options it sets one by one, so either would be
    silently ignored (say CELERY_TASK_ALWAYS_EAGER, meant to run tasks inline)."""
    hint = (
        "config.celery sets Celery's options itself (app.conf.update) and reads only the "
        "settings in its SETTINGS_READ: set the option there, or remove this."
    )
    problems: list[CheckMessage] = [
        Error(f"{name} is set, but nothing reads it.", hint=hint, id="ops.E022")
        for name in sorted(settings_names)
        if name.startswith("CELERY_") and name not in read
    ]
    problems += [
        Warning(
            f"The environment variable {name} is set, but no setting reads it.",
            hint=hint,
            id="ops.W003",
        )
        for name in sorted(variables)
        if name.startswith("CELERY_") and name not in read | read_elsewhere
    ]
    return problems


def _celery_app() -> Celery[Any]:
    from config.celery import app

    # Register every app's tasks. Not app.loader.import_default_modules(): that fires Celery's
    # Django fixup, which runs the system checks again (and so this check, recursively).
    autodiscover_modules("tasks")
    return app


@register()
def celery_topology_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    app = _celery_app()
    from config.celery import SETTINGS_READ, VARIABLES_READ_OUTSIDE_SETTINGS

    redelivery: dict[str, Any] = (
        {"visibility_timeout": app.conf.broker_transport_options.get("visibility_timeout", 3600)}
        if is_redis_url(app.conf.broker_url)
        else {
            "visibility_timeout": settings.RABBITMQ_CONSUMER_TIMEOUT,
            "setting": "RABBITMQ_CONSUMER_TIMEOUT",
        }
    )
    return [
        *check_routes(app, WORKERS),
        *check_beat(app, app.conf.beat_schedule, WORKERS),
        *check_worker_schedule(app, worker_schedule(settings.INSTALLED_APPS), WORKERS),
        *check_pools(app, WORKERS),
        *check_visibility_timeout(app, max_countdown=settings.CELERY_MAX_COUNTDOWN, **redelivery),
        *check_celery_settings(
            dir(settings),
            os.environ,
            read=SETTINGS_READ,
            read_elsewhere=VARIABLES_READ_OUTSIDE_SETTINGS,
        ),
    ]
