"""What the apps contribute, found the way Celery finds tasks; nothing in the core names an app.

The apps are the packages in ``backend/`` that hold an ``apps.py`` (``project_apps``). An app
may own ``settings`` (its settings, read from the environment after the core's),
``schedules.BEAT_SCHEDULE`` (beat entries) and ``schedules.WORKER_SCHEDULE`` (what workers run
by themselves, ``ops.worker_schedule``), both in one shape (``config.periodic``),
``routes.TASK_ROUTES`` (task routes), ``doctor.CHECKS`` (its live checks in ``make doctor``) and
``metrics.COLLECTORS`` (series web's ``/metrics`` reads at each scrape; the app's counters live in
the same module).
Removing an app is deleting its folder.

Beat entries carry ``options.expires`` (a backlog after downtime does not replay stale runs);
``ops.checks`` proves every entry and route reaches a queue some worker consumes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from config.periodic import PeriodicTask
from config.queues import CORE_ROUTES

# The core's own app, installed ahead of the others.
CORE_APP = "ops"


def project_apps(backend: Path) -> list[str]:
    """The packages in ``backend`` that are Django apps (they hold ``apps.py``): the core's first,
    then the rest by name."""
    found = sorted(path.parent.name for path in backend.glob("*/apps.py"))
    return sorted(found, key=lambda app: app != CORE_APP)


def app_settings(apps: Iterable[str], *, defined: Mapping[str, Any]) -> dict[str, Any]:
    """The upper-case names of each app's ``settings`` module, in app order. A name the core
    already ``defined``, or an earlier app set, is an error rather than a silent override, unless
    it holds the very same object (imported from the core, such as a ``config.env`` shape)."""
    known = {name: (value, "config.settings") for name, value in defined.items()}
    merged: dict[str, Any] = {}
    for app in apps:
        module_name = f"{app}.settings"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if not name.isupper():
                continue
            if name in known:
                if value is known[name][0]:
                    continue  # the core's own object, imported
                raise ImproperlyConfigured(
                    f"The setting {name} is set by both {known[name][1]} and {module_name}."
                )
            merged[name], known[name] = value, (value, module_name)
    return merged


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


def beat_schedule(apps: Iterable[str]) -> dict[str, PeriodicTask]:
    return _contributions(apps, "schedules", "BEAT_SCHEDULE")


def worker_schedule(apps: Iterable[str]) -> dict[str, PeriodicTask]:
    return _contributions(apps, "schedules", "WORKER_SCHEDULE")


def doctor_checks(apps: Iterable[str]) -> dict[str, Any]:
    """The apps' live checks for ``manage.py doctor``: subject -> a callable returning findings."""
    return _contributions(apps, "doctor", "CHECKS")


def metric_collectors(apps: Iterable[str]) -> dict[str, Any]:
    """The apps' scrape-time collectors for web's ``/metrics``: name -> a prometheus_client
    collector."""
    return _contributions(apps, "metrics", "COLLECTORS")


def task_routes(apps: Iterable[str]) -> dict[str, dict[str, str]]:
    """The apps' routes, then the core's catch-all: globs are tried in this order."""
    return {**_contributions(apps, "routes", "TASK_ROUTES"), **CORE_ROUTES}
