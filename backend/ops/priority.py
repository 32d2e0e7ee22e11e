"""A prefork worker lowers its CPU priority as it starts (CELERY_PREFORK_NICE): CPU-bound tasks
take the cores nobody else wants and give them up at once to web, worker-io and the database.

Linux shares the CPU between groups first: cgroups (a container, a systemd unit: docker-compose.yml
sets worker-cpu's ``cpu_shares``) or, outside them, the session's autogroup. Niceness counts only
inside a group, so the worker also lowers its session's autogroup, which is its own under
``make run``. Raising either needs no privilege. Why: docs/workers.md, "Priorities".
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from celery.signals import worker_init
from django.conf import settings

AUTOGROUP = Path("/proc/self/autogroup")


def _is_prefork(worker: Any) -> bool:
    pool = worker.pool_cls if isinstance(worker.pool_cls, str) else worker.pool_cls.__module__
    return "prefork" in str(pool)


@worker_init.connect
def prefork_worker_nice(sender: Any, **_: Any) -> None:
    increment = settings.CELERY_PREFORK_NICE
    if not increment or not _is_prefork(sender):
        return
    niceness = os.nice(increment)  # the pool's processes, forked later, inherit it
    # Not Linux, no autogroups, or a kernel that refuses: niceness alone is what there is.
    with contextlib.suppress(OSError):
        AUTOGROUP.write_text(str(niceness))
