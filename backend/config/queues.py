"""Queue names, their kind of work, and the core's catch-all route.

Split queues by the kind of work so each kind scales on its own pool without code changes:
``io`` work waits on the network and runs on gevent greenlets; ``cpu`` work burns a core and runs
on prefork processes (a busy greenlet would stall every other greenlet in its worker).
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    IO = "io"
    CPU = "cpu"


class Workload(StrEnum):
    IO_BOUND = "io-bound"
    CPU_BOUND = "cpu-bound"


QUEUE_WORKLOAD: dict[str, Workload] = {
    Queue.IO: Workload.IO_BOUND,
    Queue.CPU: Workload.CPU_BOUND,
}

DEFAULT_QUEUE = Queue.IO

# Whether a task on the queue acknowledges its message after it ran (acks_late) or as it starts:
# each task gets its queue's choice unless it sets its own (config.celery.BaseTask). The queue is
# the one its route gives (its module), not a queue= given to one call. Why each: docs/workers.md,
# "acks_late per queue".
QUEUE_ACKS_LATE: dict[str, bool] = {
    # Off. gevent with acks_late on Redis did 7.5-36 short tasks a second against 246 with it off
    # (docs/troubleshooting.md). A running io task is then not run again if its worker dies
    # (SIGKILL, OOM); a stop (a deploy) still lets it finish. A task that must survive that sets
    # acks_late=True, or records its work in a row that a sweeper re-enqueues.
    Queue.IO: False,
    # On. Seconds of CPU a task are what a killed process loses: the message goes back and the
    # task runs again (prefork pays nothing for it: one task a process at a time).
    Queue.CPU: True,
}

# Globs match the whole task name (fnmatch), checked in order after exact names. Apps add their own
# ahead of this catch-all in their ``routes.py`` (config.discovery): the starter sends its
# ``starter.tasks.cpu_bound.*`` to cpu. An explicit ``queue=`` given to apply_async, or in a beat
# entry's options, wins over the table.
CORE_ROUTES: dict[str, dict[str, str]] = {
    "*": {"queue": Queue.IO},
}
