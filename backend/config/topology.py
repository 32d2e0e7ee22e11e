"""Worker topology: which worker service consumes which queues, on which pool.

Declared once. ``docker-compose.yml`` and ``make run`` start these services; the system checks in
``ops.checks`` prove that routes and beat entries only reach queues consumed here, and the doctor
compares what each live worker reports with this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from config.queues import Queue

Pool = Literal["gevent", "prefork", "threads", "solo", "eventlet"]


@dataclass(frozen=True)
class WorkerService:
    service: str  # the compose service name
    node: str  # node name prefix: the worker runs as "<node>@<hostname>"
    queues: tuple[str, ...]
    pool: Pool
    concurrency_env: str
    default_concurrency: int | str  # "auto": one process per CPU the container may use

    def node_name(self, hostname: str) -> str:
        return f"{self.node}@{hostname}"


WORKERS: tuple[WorkerService, ...] = (
    WorkerService(
        service="worker-io",
        node="io",
        queues=(Queue.IO,),
        pool="gevent",
        concurrency_env="WORKER_IO_CONCURRENCY",
        default_concurrency=100,
    ),
    WorkerService(
        service="worker-cpu",
        node="cpu",
        queues=(Queue.CPU,),
        pool="prefork",
        concurrency_env="WORKER_CPU_CONCURRENCY",
        default_concurrency="auto",
    ),
)


def consumed_queues(workers: tuple[WorkerService, ...] = WORKERS) -> set[str]:
    return {str(queue) for worker in workers for queue in worker.queues}
