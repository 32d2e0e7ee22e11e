"""The Celery app (``celery -A config``): queues, routes, limits and shutdown policy.

Each setting carries the reason it is there; most come from incidents listed in
docs/troubleshooting.md. The pool is deliberately NOT configured here: it is chosen on each
worker's command line (``-P gevent`` / ``-P prefork``, see ``config.topology``), because a
``worker_pool`` setting silently overrides ``-P`` and a gevent pool chosen in settings leaves the
process unpatched.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.contrib.django.task import DjangoTask
from kombu import Exchange
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings

from config.discovery import beat_schedule, task_routes
from config.queues import DEFAULT_QUEUE, QUEUE_ACKS_LATE, Queue
from ops.overrides.redis_transport import transport_for

# The CELERY_* settings this project reads. The options below are mapped one by one (there is no
# config_from_object namespace), so any other CELERY_* setting would be silently ignored: the
# system checks refuse one (ops.E022), and a CELERY_* variable no process reads (ops.W003).
SETTINGS_READ = frozenset(
    {
        "CELERY_BROKER_URL",
        "CELERY_BROKER_IS_REDIS",
        "CELERY_RESULT_BACKEND",
        "CELERY_MAX_COUNTDOWN",
        "CELERY_VISIBILITY_TIMEOUT",
        "CELERY_SOFT_SHUTDOWN_TIMEOUT",
        "CELERY_PREFORK_NICE",
        "CELERY_LIVENESS_FILE",
        "CELERY_LIVENESS_INTERVAL",
        "CELERY_BEAT_LOCK_TIMEOUT",
        "CELERY_WORKER_SEND_TASK_EVENTS",
    }
)
# Read by the container healthchecks and by beat's command line, not by the settings.
VARIABLES_READ_OUTSIDE_SETTINGS = frozenset(
    {"CELERY_LIVENESS_MAX_AGE", "CELERY_BEAT_SCHEDULE_FILE"}
)

# Time limits every task gets unless it sets its own. gevent has no soft limit (only the hard
# one is enforced there); prefork enforces both.
DEFAULT_SOFT_TIME_LIMIT = 240
DEFAULT_TIME_LIMIT = 300


class BaseTask(DjangoTask):
    """Django-aware tasks (``delay_on_commit``) with a default retry policy: exponential backoff
    with full jitter, bounded.

    Tasks list the exception types worth retrying in ``autoretry_for`` themselves; retrying on
    ``Exception`` would repeat programming errors and permanent API rejections.
    """

    # Acknowledging while Redis restarts is expected, not critical (ops.overrides.requests).
    Request = "ops.overrides.requests:BrokerAwareRequest"
    retry_backoff = 2
    retry_backoff_max = min(600, settings.CELERY_MAX_COUNTDOWN)
    retry_jitter = True
    max_retries = 5
    # acks_late is the task's queue's (config.queues.QUEUE_ACKS_LATE) unless the task sets its
    # own: Celery would otherwise fill it from task_acks_late as it binds the task.
    from_config = tuple(item for item in DjangoTask.from_config if item[0] != "acks_late")

    @classmethod
    def bind(cls, app: Celery) -> Celery:
        bound = super().bind(app)
        if cls.acks_late is None and cls.name:
            route = app.amqp.router.route({}, cls.name)
            cls.acks_late = QUEUE_ACKS_LATE[route["queue"].name]
        return bound


def broker_transport_options() -> dict[str, Any]:
    """What the broker's transport needs, by broker."""
    if settings.CELERY_BROKER_IS_REDIS:
        # Redis re-delivers a message held unacknowledged longer than this, so it must exceed
        # the longest countdown plus the longest run time, on every producer and worker alike
        # (ops.checks verifies it); otherwise a countdown task runs more than once.
        return {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT}
    # RabbitMQ: a publish returns once the broker has taken the message (publisher confirms),
    # so a message the broker lost while it was being sent is an error, not a silent loss.
    return {"confirm_publish": True}


app = Celery("config", task_cls=BaseTask)

app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    # kombu's Redis transport, except that losing Redis mid-close does not crash the worker.
    broker_transport=transport_for(settings.CELERY_BROKER_URL),
    result_backend=settings.CELERY_RESULT_BACKEND,
    # Keep retrying the broker at start-up (Compose may start workers before Redis accepts).
    broker_connection_retry_on_startup=True,
    broker_transport_options=broker_transport_options(),
    result_backend_transport_options={"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT},
    # Declared queues only: routing to a queue nobody declared raises QueueNotFound instead of
    # silently filling a Redis list no worker reads. Classic durable queues on RabbitMQ (kombu's
    # default): quorum queues cannot hold countdown tasks without Celery's delayed-delivery
    # exchanges (docs/rabbitmq.md).
    task_queues=[KombuQueue(q.value, Exchange(q.value), routing_key=q.value) for q in Queue],
    task_create_missing_queues=False,
    task_default_queue=DEFAULT_QUEUE.value,
    task_routes=task_routes(settings.INSTALLED_APPS),
    # JSON only: arguments are ids and plain values, and no pickle reaches a worker.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    # Results are opt-in per task (the doctor's probe uses one); most tasks write to the database.
    task_ignore_result=True,
    # One result backend a process. Celery otherwise builds one per thread, and under gevent every
    # task is a thread of its own: a new Redis client each task, 12 % of a send's CPU. The Redis
    # backend's client and pool are safe to share (docs/workers.md, "Per-task overhead").
    result_backend_thread_safe=True,
    result_expires=3600,
    task_soft_time_limit=DEFAULT_SOFT_TIME_LIMIT,
    task_time_limit=DEFAULT_TIME_LIMIT,
    # Acknowledge after the task ran, so a crash or a soft shutdown puts the message back; each
    # task takes its queue's choice instead (BaseTask, config.queues.QUEUE_ACKS_LATE), this is
    # for a task on another base class. Redelivery is safe because tasks are idempotent (a claim
    # on the database row guards every side effect). A lost worker counts as a retry (5.7), so a
    # poison task stops at max_retries instead of looping.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_retry_on_worker_lost=True,
    # Each process reserves one message per slot; long CPU tasks are not hoarded by one process.
    worker_prefetch_multiplier=1,
    # Prefetch does not bound countdown/ETA messages: without this a worker pulls every
    # countdown message in the queue into memory.
    worker_eta_task_limit=1000,
    # Stopping. worker-cpu (prefork) uses Celery's soft shutdown: SIGTERM is remapped to SIGQUIT
    # (REMAP_SIGTERM in docker-compose.yml), running tasks get this long to finish, then the rest
    # is requeued at once rather than after the visibility timeout. worker-io (gevent) keeps the
    # warm shutdown, bounded by the same timeout in ops.overrides.shutdown. stop_grace_period is
    # longer.
    worker_soft_shutdown_timeout=settings.CELERY_SOFT_SHUTDOWN_TIMEOUT,
    worker_enable_soft_shutdown_on_idle=True,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # Publishing retries briefly if Redis blips, instead of failing the web request.
    task_publish_retry=True,
    task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
    # Task events for Flower; off unless CELERY_WORKER_SEND_TASK_EVENTS (on in production).
    worker_send_task_events=settings.CELERY_WORKER_SEND_TASK_EVENTS,
    timezone=settings.TIME_ZONE,
    enable_utc=True,
    beat_schedule=beat_schedule(settings.INSTALLED_APPS),
    beat_scheduler="ops.overrides.beat:SingleBeatScheduler",
    # Write each entry's last run to the schedule file as soon as it is sent, not every 3 minutes
    # (Celery's default): beat killed (OOM, SIGKILL) would otherwise come back with older times
    # and send again at once what it had just sent.
    beat_sync_every=1,
    # Beat wakes at least this often, which is also how often it reports that it is alive.
    beat_max_loop_interval=15,
)

app.autodiscover_tasks()

from ops.liveness import ConsumerLiveness  # noqa: E402
from ops.metrics.tasks import connect as connect_metrics  # noqa: E402
from ops.overrides.connections import BrokerConnections  # noqa: E402  (needs the app's settings)
from ops.overrides.shutdown import GreenDrain  # noqa: E402
from ops.priority import prefork_worker_nice  # noqa: E402, F401  (connects the signal)
from ops.worker_schedule import WorkerSchedule  # noqa: E402

connect_metrics()
app.steps["consumer"].add(ConsumerLiveness)
app.steps["consumer"].add(WorkerSchedule)
app.steps["worker"].add(BrokerConnections)
app.steps["worker"].add(GreenDrain)
