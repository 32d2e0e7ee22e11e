"""What the installed apps contribute to Celery, found the way Celery finds tasks: an app may own
``schedules.BEAT_SCHEDULE`` (beat entries), ``schedules.WORKER_SCHEDULE`` (what workers send
themselves, ``ops.worker_schedule``) and ``routes.TASK_ROUTES`` (task routes). Nothing in
the core names an app, so removing one is deleting its folder and its INSTALLED_APPS line.

Beat entries carry ``options.expires`` (a backlog after downtime does not replay stale runs);
``ops.checks`` proves every entry and route reaches a queue some worker consumes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from config.queues import CORE_ROUTES


def app_packages(installed: Iterable[str]) -> list[str]:
    """The package of each INSTALLED_APPS entry, whether it names the package or an AppConfig."""
    return [AppConfig.create(entry).name for entry in installed]


def _contributions(apps: Iterable[str], module: str, attribute: str) -> dict[str, Any]:
    """Merge ``<app>.<module>.<attribute>`` dicts in app order; a key defined twice is an error,
    not a silent override."""
    merged: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for app in app_packages(apps):
        module_name = f"{app}.{module}"
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            continue
        contributed: dict[str, Any] = getattr(importlib.import_module(module_name), attribute, {})
        for key, value in contributed.items():
            if key in merged:
                raise ImproperlyConfigured(
                    f"{attribute} {key!r} is defined by both {owners[key]} and {module_name}."
                )
            merged[key], owners[key] = value, module_name
    return merged


def beat_schedule(apps: Iterable[str]) -> dict[str, dict[str, Any]]:
    return _contributions(apps, "schedules", "BEAT_SCHEDULE")


def worker_schedule(apps: Iterable[str]) -> dict[str, dict[str, Any]]:
    return _contributions(apps, "schedules", "WORKER_SCHEDULE")


def task_routes(apps: Iterable[str]) -> dict[str, dict[str, str]]:
    """The apps' routes, then the core's catch-all: globs are tried in this order."""
    return {**_contributions(apps, "routes", "TASK_ROUTES"), **CORE_ROUTES}
