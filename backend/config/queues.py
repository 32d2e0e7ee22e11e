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

# Globs match the whole task name (fnmatch), checked in order after exact names. Apps add their
# own ahead of this catch-all in their ``routes.py`` (config.discovery): football_data sends
# ``football_data.*`` to cpu. An explicit ``queue=`` given to apply_async, or in a beat entry's
# options, wins over the table.
CORE_ROUTES: dict[str, dict[str, str]] = {
    "*": {"queue": Queue.IO},
}
