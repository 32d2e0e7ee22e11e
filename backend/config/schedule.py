"""Every periodic task, discovered the way Celery discovers tasks: each installed app may own a
``schedules`` module with a ``BEAT_SCHEDULE`` dict, and nothing here names an app.

Each entry carries ``options.expires`` so a backlog after downtime does not replay stale runs,
and ``ops.checks`` proves each one routes to a queue some worker consumes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SCHEDULES_MODULE = "schedules"


def discover_beat_schedule(apps: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Merge ``<app>.schedules.BEAT_SCHEDULE`` of every app that has one; a name used twice is an
    error, not a silent override."""
    merged: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for app in apps:
        module_name = f"{app}.{SCHEDULES_MODULE}"
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            continue
        schedule: dict[str, dict[str, Any]] = importlib.import_module(module_name).BEAT_SCHEDULE
        for name, entry in schedule.items():
            if name in merged:
                raise ImproperlyConfigured(
                    f"Beat entry {name!r} is defined by both {owners[name]} and {module_name}."
                )
            merged[name], owners[name] = entry, module_name
    return merged
