"""What every fault test shares (``make chaos``): the report of recovery times for the closing
note, written to var/fault-report.md, the check that a log holds nothing unrecoverable, and each
test's log kept in var/fault-logs/."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.scratch import REPO_DIR

if TYPE_CHECKING:
    from tests.stack import Stack

UNRECOVERABLE = ("CRITICAL", "Couldn't ack", "MaxConnectionsError", "Unrecoverable error")
REPORT = REPO_DIR / "var" / "fault-report.md"
LOGS = REPO_DIR / "var" / "fault-logs"


class Report:
    """One row per fault: what was done, the counts, and the time to the last delivery."""

    def __init__(self) -> None:
        self.rows = ["| fault | beat | sent | delivered | duplicated | lost | last delivery |"]
        self.rows.append("|---|---|---|---|---|---|---|")

    def add(self, fault: str, beat: bool, sent: int, delivered: int, total: int, took: float):
        duplicated, lost = sent - delivered, total - delivered
        self.rows.append(
            f"| {fault} | {'yes' if beat else 'no'} | {sent} | {delivered} | {duplicated} "
            f"| {lost} | {took:.1f} s after the fault cleared |"
        )


def written_to(path: Path) -> Iterator[Report]:
    """A fixture's body: a Report, written to ``path`` and printed when the fixture ends. Under
    pytest-xdist (`make chaos -n 2`) each process adds its rows to what the others of the same
    run wrote."""
    collected = Report()
    yield collected
    path.parent.mkdir(exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    with (path.parent / f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = collected.rows
        earlier = path.read_text().splitlines() if path.exists() else []
        if run and earlier and earlier[0] == f"<!-- run {run} -->":
            rows = earlier[1:] + collected.rows[2:]
        path.write_text("\n".join([f"<!-- run {run} -->", *rows] if run else rows) + "\n")
    print("\n" + "\n".join(collected.rows))


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    yield from written_to(REPORT)


def clean(log: str, *, tolerate: tuple[str, ...] = ()) -> list[str]:
    """The lines of ``log`` that say something went wrong for good."""
    return [
        line
        for line in log.splitlines()
        if any(bad in line for bad in UNRECOVERABLE) and not any(ok in line for ok in tolerate)
    ]


@contextmanager
def log_kept(stack: Stack, service: str, test_name: str) -> Iterator[None]:
    """Keep what ``service`` logs during the test in var/fault-logs/<test>.log. It is stopped
    first, so nothing writes while the test database is emptied."""
    before = len(stack.log(service))
    yield
    stack.stop(service)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"{test_name.replace('/', '_')}.log").write_text(stack.log(service)[before:])
