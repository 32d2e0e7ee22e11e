"""Periodic WhatsApp work (config.discovery finds it)."""

from __future__ import annotations

from celery.schedules import crontab

from config.periodic import PeriodicTask
from whatsapp.dispatch import PAYMENT_REMINDERS, SWEEP

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
    # The day's payment reminders at 09:00 (TIME_ZONE), then every hour until 18:00: a run is
    # repeatable, so the later ones remind only whom an earlier run missed (a worker that died
    # mid-run, a payment added since). services.reminders.
    "whatsapp-payment-reminders": {
        "task": PAYMENT_REMINDERS,
        "schedule": crontab(minute="0", hour="9-18"),
        "options": {"expires": 3000},
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
