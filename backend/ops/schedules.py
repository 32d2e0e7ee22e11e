"""Beat's canary: a tiny task to every consumed queue, proving beat → queue → worker end to end."""

from __future__ import annotations

from django.conf import settings

from config.periodic import PeriodicTask
from config.topology import consumed_queues

BEAT_SCHEDULE: dict[str, PeriodicTask] = {
    f"ops-canary-{queue}": {
        "task": "ops.tasks.canary",
        "schedule": settings.OPS_CANARY_INTERVAL_SECONDS,
        "args": (queue,),
        "options": {"queue": queue, "expires": settings.OPS_CANARY_INTERVAL_SECONDS},
    }
    for queue in sorted(consumed_queues())
}
