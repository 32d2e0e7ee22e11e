"""Where the starter's tasks run (config.discovery adds this ahead of the core's catch-all, which
sends ``starter.tasks.io_bound`` to ``io``)."""

from config.queues import Queue

TASK_ROUTES: dict[str, dict[str, str]] = {
    "starter.tasks.cpu_bound.*": {"queue": Queue.CPU},
}
