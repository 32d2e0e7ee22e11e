"""Beat restarted (stopped as a deploy does, or killed) on real processes: no periodic task runs
twice within its interval, and none is skipped for good; counted at the workers, where the tasks
run (``tests.task_runs``). The entries: the canary's, and those an app's tests declare
(``BEAT_ENTRIES``, tests/declared.py)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from tests.declared import declared
from tests.faults import Report, clean, log_kept
from tests.stack import Stack, wait_until
from tests.task_runs import forget, runs

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

CANARY_EVERY = 6
# Beat sends an entry up to 10 ms early and its clock is not the workers': allow a second.
JITTER = 1.0
# From starting beat to its first send, on a busy 2-core machine.
STARTUP = 10.0


@dataclass(frozen=True)
class Entry:
    name: str
    every: float
    matches: Callable[[dict[str, Any]], bool]


def _sent(task: str, args: list[Any]) -> Callable[[dict[str, Any]], bool]:
    """The runs of ``task`` with these arguments (and no keyword arguments)."""
    return lambda run: run["task"] == task and run["args"] == args and not run["kwargs"]


def _entries() -> tuple[list[Entry], dict[str, str]]:
    """The canary's entries, then those each app's tests declare (tests/declared.py), and the
    environment that sets them all to these intervals."""
    entries = [
        Entry(f"ops-canary-{queue}", CANARY_EVERY, _sent("ops.tasks.canary", [queue]))
        for queue in ("io", "cpu")
    ]
    for app_entries in declared("BEAT_ENTRIES"):
        entries += [Entry(n, every, _sent(task, args)) for n, every, task, args in app_entries]
    env = {"OPS_CANARY_INTERVAL_SECONDS": str(CANARY_EVERY)}
    for app_env in declared("BEAT_ENV"):
        env.update(app_env)
    return entries, env


ENTRIES, INTERVALS = _entries()
LONGEST = max(ENTRIES, key=lambda entry: entry.every)


@pytest.fixture
def workers(request, stack: Stack, clean_queues: None) -> Iterator[Stack]:
    """Both workers, recording every task they start; beat's log is kept."""
    for service in ("worker-io", "worker-cpu"):
        stack.ensure(service, include="tests.task_runs")
    forget(stack.app.conf.broker_url)
    with log_kept(stack, "beat", request.node.name):
        yield stack
    for service in ("worker-io", "worker-cpu"):
        stack.stop(service)


def times(stack: Stack, entry: Entry) -> list[float]:
    return sorted(run["at"] for run in runs(stack.app.conf.broker_url) if entry.matches(run))


def first_after(stack: Stack, entry: Entry, moment: float) -> float | None:
    """Seconds from ``moment`` to the entry's first run after it, if it ran."""
    return next((t - moment for t in times(stack, entry) if t > moment), None)


def each_run_once(stack: Stack, late_by: float) -> tuple[int, int, int]:
    """Assert no entry ran twice within its interval, nor waited more than ``late_by`` beyond
    it; the runs counted, those that were not repeats, and those expected."""
    sent = delivered = expected = 0
    for entry in ENTRIES:
        at = times(stack, entry)
        gaps = [b - a for a, b in itertools.pairwise(at)]
        repeated = [round(g, 1) for g in gaps if g < entry.every - JITTER]
        skipped = [round(g, 1) for g in gaps if g > entry.every + late_by]
        sent += len(at)
        delivered += len(at) - len(repeated)
        expected += len(at) - len(repeated) + len(skipped)
        assert repeated == [], (entry.name, gaps)
        assert skipped == [], (entry.name, gaps)
    return sent, delivered, expected


@pytest.mark.parametrize(
    ("how", "down_for"),
    [("SIGTERM", 0.0), ("SIGKILL", 0.0), ("SIGKILL", 2.0 * LONGEST.every)],
    ids=["sigterm", "sigkill", "sigkill-down-two-intervals"],
)
def test_beat_restarted_runs_each_periodic_task_once_per_interval_and_skips_none(
    workers: Stack, session_dir, report: Report, how: str, down_for: float, request
):
    env: dict[str, Any] = {
        **INTERVALS,
        "CELERY_BEAT_SCHEDULE_FILE": str(session_dir / f"beat-schedule-{request.node.callspec.id}"),
    }
    log_before = {name: len(workers.log(name)) for name in ("beat", "worker-io", "worker-cpu")}
    # given beat, with its schedule file, having sent every entry on schedule twice
    workers.ensure("beat", **env)
    wait_until(lambda: all(len(times(workers, e)) >= 2 for e in ENTRIES), timeout=60)
    # when it is stopped right after the longest entry ran (so a repeat would show), as a deploy
    # does (SIGTERM) or as the OOM killer does (SIGKILL), and started again
    ran = len(times(workers, LONGEST))
    wait_until(lambda: len(times(workers, LONGEST)) > ran, timeout=LONGEST.every + STARTUP)
    stopped = time.time()
    if how == "SIGKILL":
        workers.kill("beat")
    else:
        assert workers.stop_watched("beat").code == 0
    time.sleep(down_for)
    restarted = time.time()
    workers.ensure("beat", **env)
    # then each entry runs again within its interval (at once if it fell due meanwhile) ...
    resumed = {
        e.name: wait_until(partial(first_after, workers, e, restarted), timeout=e.every + STARTUP)
        for e in ENTRIES
    }
    # ... and keeps its interval after that
    time.sleep(LONGEST.every * 2 + JITTER)
    workers.stop("beat")
    time.sleep(1)  # the last sends reach the workers
    down = restarted - stopped
    counts = each_run_once(workers, late_by=down + STARTUP)
    for entry in ENTRIES:
        if down >= entry.every:
            # it fell due while beat was down: one run as soon as beat is back, not one per miss
            assert resumed[entry.name] < STARTUP, (entry.name, resumed)
    took = max(resumed.values())
    report.add(
        f"beat restarted ({how}, down {down:.0f} s); runs of {len(ENTRIES)} entries "
        f"every {CANARY_EVERY} to {LONGEST.every:g} s",
        True,
        *counts,
        took,
    )
    for name, before in log_before.items():
        assert clean(workers.log(name)[before:]) == [], name


LOCK_TIMEOUT = 6.0


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_two_beats_send_each_run_once_and_the_standby_takes_over(
    workers: Stack, session_dir, report: Report, how: str
):
    env: dict[str, Any] = {**INTERVALS, "CELERY_BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT)}
    beats = ("beat", "beat-2")
    log_before = {name: len(workers.log(name)) for name in (*beats, "worker-io", "worker-cpu")}

    def took_lock(name: str) -> bool:
        return "holding the lock" in workers.log(name)[log_before[name] :]

    # given two beats, each with its own schedule file (as two containers or hosts would have)
    for name in beats:
        schedule = str(session_dir / f"beat-schedule-two-{how}-{name}")
        workers.ensure("beat", instance=name, CELERY_BEAT_SCHEDULE_FILE=schedule, **env)
    wait_until(lambda: all(len(times(workers, e)) >= 2 for e in ENTRIES), timeout=60)
    # exactly one of them sends, the other stands by
    active, standby = sorted(beats, key=took_lock, reverse=True)
    assert (took_lock(active), took_lock(standby)) == (True, False)
    assert "standing by" in workers.log(standby)[log_before[standby] :]
    # when the active one dies (SIGKILL) or is stopped (SIGTERM, as a deploy does)
    stopped = time.time()
    if how == "SIGKILL":
        workers.kill(active)
    else:
        assert workers.stop_watched(active).code == 0
    # then the standby takes over: once the lock expires, or at once when it was released
    wait_until(lambda: took_lock(standby), timeout=LOCK_TIMEOUT + 10, interval=0.1)
    took = time.time() - stopped
    bound = LOCK_TIMEOUT + 2 if how == "SIGKILL" else 2
    assert took < bound, took
    # ... and carries on every entry's interval: no run doubled, none skipped
    time.sleep(LONGEST.every * 2 + JITTER)
    workers.stop(standby)
    time.sleep(1)  # the last sends reach the workers
    counts = each_run_once(workers, late_by=took + JITTER)
    report.add(
        f"two beats, the sending one stopped ({how}); runs of {len(ENTRIES)} entries "
        f"every {CANARY_EVERY} to {LONGEST.every:g} s, lock {LOCK_TIMEOUT:.0f} s",
        True,
        *counts,
        took,
    )
    for name, before in log_before.items():
        assert clean(workers.log(name)[before:]) == [], name
