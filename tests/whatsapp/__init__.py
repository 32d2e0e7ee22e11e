"""The whatsapp app's tests, and what the core's tests run over for it (tests/declared.py)."""

# Its countdowns and sweeps, run again with the clock pinned (tests/test_dates.py).
DATE_SUITES = ["tests/whatsapp/test_services.py", "tests/whatsapp/test_tasks.py"]
ROUTED_TASKS: list[tuple[str, list[object], str]] = [
    ("whatsapp.tasks.send_message", [0], "worker-io")
]
# Parts 2 s apart, so that a fault mid-batch finds parts held as countdown tasks
# (compose/test_recovery.py); the pair rule (the stand-in enforces what the app is told) scaled to
# 1 s so that each part opens a burst of its own instead of waiting 6 s per part it borrowed.
COMPOSE_ENV = {"WHATSAPP_PART_SPACING_SECONDS": "2", "WHATSAPP_PAIR_INTERVAL_SECONDS": "1"}
