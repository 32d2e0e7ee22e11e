"""Run by tests/test_dates.py under a pinned clock (TEST_NOW): the session and a real worker it
starts both live at the pinned moment. Not collected otherwise (not a ``test_*.py`` file)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from tests.worker_tasks import clock


@pytest.mark.processes
def test_the_session_and_a_worker_live_at_the_pinned_moment(stack, clean_queues):
    pinned = datetime.fromisoformat(os.environ["TEST_NOW"]).timestamp()
    stack.ensure("worker-io", include="tests.worker_tasks")
    worker_time = clock.delay().get(timeout=30)
    assert pinned <= time.time() < pinned + 600
    assert abs(worker_time - time.time()) < 30
    print(f"clock: session {datetime.now(UTC):%Y-%m-%d %H:%M}, "
          f"worker {datetime.fromtimestamp(worker_time, UTC):%Y-%m-%d %H:%M}")  # fmt: skip
