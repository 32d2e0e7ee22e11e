"""What every fault test shares (``make chaos``): the report of recovery times for the closing
note, written to var/fault-report.md, and the check that a log holds nothing unrecoverable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scratch import REPO_DIR

UNRECOVERABLE = ("CRITICAL", "Couldn't ack", "MaxConnectionsError", "Unrecoverable error")
REPORT = REPO_DIR / "var" / "fault-report.md"


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
    """A fixture's body: a Report, written to ``path`` and printed when the fixture ends."""
    collected = Report()
    yield collected
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(collected.rows) + "\n")
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
