"""Beat's canary: a tiny task to every consumed queue, proving beat → queue → worker end to end."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.topology import consumed_queues

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    f"ops-canary-{queue}": {
        "task": "ops.tasks.canary",
        "schedule": settings.OPS_CANARY_INTERVAL_SECONDS,
        "args": (queue,),
        "options": {"queue": queue, "expires": settings.OPS_CANARY_INTERVAL_SECONDS},
    }
    for queue in sorted(consumed_queues())
}
