"""Periodic WhatsApp work (config.discovery finds it)."""

from __future__ import annotations

from config.periodic import PeriodicTask
from whatsapp.dispatch import SWEEP

SWEEP_INTERVAL_SECONDS = 60.0
# How often each worker-io sweeps by itself, with or without beat.
WORKER_SWEEP_INTERVAL_SECONDS = 5.0

BEAT_SCHEDULE: dict[str, PeriodicTask] = {
    "whatsapp-sweep": {
        "task": SWEEP,
        "schedule": SWEEP_INTERVAL_SECONDS,
        # A sweep that could not run within its interval is replaced by the next one.
        "options": {"expires": SWEEP_INTERVAL_SECONDS - 5},
    },
}

WORKER_SCHEDULE: dict[str, PeriodicTask] = {
    "whatsapp-sweep": {
        "task": SWEEP,
        "schedule": WORKER_SWEEP_INTERVAL_SECONDS,
        # A worker that has just (re)connected may have lost the wake-ups it held (SIGKILL, a
        # Redis restart): anything overdue at all goes again, even behind a backlog; the claim
        # turns duplicates away.
        "on_connect": {"stuck_after": 1.0, "behind_backlog": True},
    },
}
