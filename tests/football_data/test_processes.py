"""football_data on real processes: the prefork worker-cpu (and beat) started with their
docker-compose.yml commands, the private Redis, the test database, and the stand-in API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.celery import app
from devstack.standins.football_data import FootballDataStandin, matches_payload
from football_data.demo import demo_tickets_seed
from football_data.models import Match, Payout, Ticket
from football_data.schedules import BEAT_SCHEDULE
from football_data.services import matches_upsert
from football_data.tasks import settle_tickets
from tests.stack import wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def api() -> Iterator[FootballDataStandin]:
    # One stand-in for the module, so the worker keeps one environment and is not restarted.
    # Its limit is above the few syncs these tests make (the limiter is tested on its own).
    with FootballDataStandin(requests_per_minute=60) as standin:
        yield standin


@pytest.fixture
def worker_env(api) -> dict[str, str]:
    """One environment for every process in this module, so workers are not restarted."""
    api.requests.clear()
    api.scripted.clear()
    return {
        "FOOTBALL_DATA_API_URL": api.url,
        "FOOTBALL_DATA_API_TOKEN": "t",
        "WORKER_CPU_CONCURRENCY": "2",
    }


@pytest.fixture
def cpu_only(stack, clean_queues, worker_env):
    """worker-cpu running, worker-io not: whatever runs, ran on the cpu queue."""
    stack.stop("worker-io")
    stack.ensure("worker-cpu", **worker_env)
    return stack


def _paths(api: FootballDataStandin) -> list[str]:
    return [r.path for r in api.requests if r.status == 200]


def test_each_beat_entry_runs_on_worker_cpu(cpu_only, api):
    # Given decided matches and open tickets on them
    matches_upsert(payload=matches_payload(days_back=3, days_ahead=0))
    demo_tickets_seed(tickets=50)
    finished = set(Match.objects.filter(status="FINISHED").values_list("pk", flat=True))
    # When each beat entry is sent exactly as beat sends it (its task, args and options)
    for entry in BEAT_SCHEDULE.values():
        app.send_task(
            entry["task"],
            args=entry.get("args", ()),
            kwargs=entry.get("kwargs", {}),
            **entry.get("options", {}),
        )
    # Then the prefork worker ran them all: four syncs reached the API, and tickets settled
    wait_until(lambda: len(_paths(api)) >= 4, timeout=30)
    assert set(_paths(api)) == {"/v4/competitions/PL/matches"}
    assert finished
    wait_until(lambda: Ticket.objects.exclude(status="open").exists(), timeout=30)


def test_beat_drives_sync_fixtures_on_the_prefork_worker(cpu_only, api, worker_env, session_dir):
    # Given beat with a 5-second fixtures interval
    cpu_only.ensure(
        "beat",
        **worker_env,
        FOOTBALL_DATA_FIXTURES_SYNC_SECONDS="5",
        CELERY_BEAT_SCHEDULE_FILE=str(session_dir / "football-data-beat-schedule"),
    )
    try:
        # When it has run for a while / Then it synced at start and again on schedule
        wait_until(lambda: _paths(api).count("/v4/competitions/PL/matches") >= 2, timeout=40)
    finally:
        cpu_only.stop("beat")
    assert Match.objects.filter(status="TIMED").exists()
    assert "cpu@" in cpu_only.log("worker-cpu")


def test_settlement_fans_out_and_pays_once(cpu_only):
    # Given 1,200 tickets, most of them on decided matches
    matches_upsert(payload=matches_payload(days_back=10, days_ahead=2))
    demo_tickets_seed(tickets=1200, max_legs=2)
    # (a match still to be played, or postponed less than the grace period ago, keeps its tickets
    # open: a postponed match voids its selections only once it is 48 hours overdue)
    void_from = timezone.now() - timedelta(hours=settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS)
    undecided = Match.objects.filter(
        Q(status__in=["TIMED", "SCHEDULED", "IN_PLAY"])
        | Q(status="POSTPONED", utc_date__gt=void_from)
    )
    settleable = Ticket.objects.exclude(selections__match__in=undecided).count()
    assert settleable > 500
    # When settlement is triggered three times at once (beat, a results sync, an operator)
    for _ in range(3):
        settle_tickets.delay()
    # Then every decided ticket settles, and each winning or void ticket is paid exactly once
    wait_until(lambda: not Ticket.objects.filter(status="open").count() > 1200 - settleable,
               timeout=60)  # fmt: skip
    time.sleep(1)  # let the duplicate chunks finish too
    assert Ticket.objects.filter(status="open").count() == 1200 - settleable  # the rest wait
    paid = Ticket.objects.filter(status__in=["won", "void"])
    assert Payout.objects.count() == paid.count()
    assert sum(p.amount for p in Payout.objects.all()) == sum(
        (t.payout or Decimal(0) for t in paid), Decimal(0)
    )
