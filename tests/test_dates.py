"""The date-dependent suites with the clock pinned to chosen dates (TEST_NOW, tests/clock):
beat's schedules and the routing table, and the suites each app declares with the dates it needs
(``DATES``, ``DATE_SUITES``, ``DATE_PROCESS_SUITES``: tests/declared.py). Each date runs the fast
tests of those suites, and the real-process ones, with tests/clock/probe.py, which checks that a
worker lives at the pinned moment too."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from tests.declared import declared
from tests.scratch import REPO_DIR

DATES = {
    "month-end": "2027-02-28T23:50:00+00:00",
    "year-end": "2026-12-31T23:50:00+00:00",
    **{name: moment for dates in declared("DATES") for name, moment in dates.items()},
}
FAST = [
    "tests/ops/test_beat.py",
    "tests/config/test_routing.py",
    *(path for paths in declared("DATE_SUITES") for path in paths),
]
REAL_PROCESSES = [
    *(path for paths in declared("DATE_PROCESS_SUITES") for path in paths),
    "tests/clock/probe.py",
]


# Not passed on to the pinned sessions: this session's clock and options, and its database. On
# PostgreSQL two sessions (and this one) would share one test database and drop it under each
# other; each pinned session gets an SQLite file of its own instead.
NOT_PASSED_ON = ("TEST_CLOCK_OFFSET", "PYTHONPATH", "PYTEST_ADDOPTS", "DATABASE_URL",
                 "TEST_DATABASE_URL", "TEST_POSTGRES", "FAULT_TESTS")  # fmt: skip


def pytest_at(moment: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own (its own Redis, workers and database) with the clock pinned
    to ``moment``, whatever options this session was given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_PASSED_ON and not k.startswith("POSTGRES_")
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *arguments],
        cwd=REPO_DIR,
        env={**env, "TEST_NOW": moment},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def at_every_date(*arguments: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """The same session at each date, two at a time: each mostly waits on one core."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(pytest_at, moment, *arguments) for name, moment in DATES.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def fast_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    return at_every_date(*FAST, "-m", "not processes")


@pytest.fixture(scope="module")
def process_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    return at_every_date(*REAL_PROCESSES, "-s")


def passed(result: subprocess.CompletedProcess[str]) -> None:
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in summary, summary
    assert "failed" not in summary, summary


def test_the_dates_are_the_edge_cases_they_stand_for():
    month_end = datetime.fromisoformat(DATES["month-end"])
    assert (month_end + timedelta(minutes=10)).day == 1
    year_end = datetime.fromisoformat(DATES["year-end"])
    assert (year_end + timedelta(minutes=10)).year == year_end.year + 1


@pytest.mark.parametrize("date", list(DATES))
def test_the_fast_date_dependent_suites_pass_on(fast_runs, date):
    passed(fast_runs[date])


@pytest.mark.processes
@pytest.mark.parametrize("date", list(DATES))
def test_the_real_process_suites_pass_and_the_workers_live_on(process_runs, date):
    passed(process_runs[date])
    moment = datetime.fromisoformat(DATES[date])
    # (to the ten minutes: the session started a few seconds after the pinned moment)
    assert f"clock: session {moment:%Y-%m-%d %H:%M}"[:-1] in process_runs[date].stdout
