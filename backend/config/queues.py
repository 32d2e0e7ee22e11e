"""Queue names and the routing table: the one place that says where a task runs.

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

# Globs match the whole task name (fnmatch), checked in order after exact names.
# An explicit ``queue=`` given to apply_async, or in a beat entry's options, wins over this table.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "football_data.*": {"queue": Queue.CPU},
    "*": {"queue": Queue.IO},
}
