"""Where football_data's tasks run (config.discovery adds this ahead of the core's catch-all)."""

from config.queues import Queue

# Settlement and parsing burn a core: prefork processes, never gevent greenlets.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "football_data.*": {"queue": Queue.CPU},
}
