"""The starter's tasks, one module per kind of work: the module decides the queue (routes.py)."""

from starter.tasks import cpu_bound, io_bound

__all__ = ["cpu_bound", "io_bound"]
