"""What each app's tests declare for the core's tests, in ``tests/<app>/__init__.py``: the core
tests run over the apps present (``config.discovery.project_apps``) and name none of them.

The names an app may set:
- ``DATES``: moments worth pinning the clock to, by name (tests/test_dates.py);
- ``DATE_SUITES``: test paths run again at each of those moments, without real processes;
- ``DATE_PROCESS_SUITES``: test paths that start real processes, run again at each moment;
- ``ROUTED_TASKS``: ``(task name, args, worker service)`` a real worker receives (test_workers.py);
- ``COMPOSE_ENV``: lines added to the .env of the container tests' copy (tests/compose);
- ``BEAT_ENTRIES``: ``(beat entry, interval, task, args)`` in the beat restart tests
  (tests/ops/test_faults.py), with ``BEAT_ENV``, the variables that set those intervals.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from config.discovery import project_apps
from tests.scratch import REPO_DIR


def declared(name: str) -> list[Any]:
    """``name`` as each present app's tests package sets it, in app order."""
    found = []
    for app in project_apps(REPO_DIR / "backend"):
        if importlib.util.find_spec(f"tests.{app}") is None:
            continue
        module = importlib.import_module(f"tests.{app}")
        if hasattr(module, name):
            found.append(getattr(module, name))
    return found
