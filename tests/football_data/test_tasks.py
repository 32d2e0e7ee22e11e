"""Tasks run in this process (``apply``): the integration switch and the retry policy."""

from __future__ import annotations

import datetime
import math
import re
import time

import pytest
import redis
from celery.exceptions import Retry
from django.utils import timezone

from devstack.standins.football_data import matches_payload
from football_data import services, tasks
from football_data.client import FootballDataAuthError
from football_data.demo import demo_tickets_seed
from football_data.models import Match, Ticket
from football_data.schedules import WORKER_SCHEDULE
from football_data.services import matches_upsert
from football_data.tasks import (
    RATE_LIMIT_JITTER_SECONDS,
    rate_limited_countdown,
    settle_sweep,
    settle_ticket_chunk,
    settle_tickets,
    sync_fixtures,
    sync_results,
)

pytestmark = pytest.mark.django_db


def test_syncs_do_nothing_without_a_token(football_api, settings):
    settings.FOOTBALL_DATA_API_TOKEN = None
    assert sync_fixtures.apply().get() == 0
    assert sync_results.apply().get() == 0
    assert football_api.requests == []


def _countdowns(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(n) for n in re.findall(r"Retry in (\d+)s", caplog.text)]


def test_a_429_retries_after_the_wait_the_provider_asked_for(football_api, monkeypatch):
    # Given a 429 asking for one second, and a task whose retries are recorded, not run inline
    football_api.fail_next(
        429, {"message": "You reached your request limit. Wait 1 seconds.", "errorCode": 429}
    )
    retries = []

    def retry(*, exc, countdown, kwargs):
        retries.append((countdown, kwargs))
        raise Retry(exc=exc, when=countdown)

    monkeypatch.setattr(sync_fixtures, "retry", retry)
    # When the sync runs
    assert sync_fixtures.apply().state == "RETRY"
    # Then it asks to run again after the wait plus 1..5 s of jitter, for what is left
    [(countdown, kwargs)] = retries
    assert 1 + 1 <= countdown <= 1 + RATE_LIMIT_JITTER_SECONDS
    assert kwargs == {"competitions": ["PL"]}
    # And when it does (the 1 s block every process saw has lapsed by then), it succeeds
    time.sleep(1.05)
    assert sync_fixtures.apply(kwargs=kwargs).state == "SUCCESS"
    assert [r.status for r in football_api.requests] == [429, 200]


def test_a_full_limiter_retries_the_rest_later_instead_of_sleeping(football_api, settings, caplog):
    # Given a plan of one request a minute, two competitions, and the default max wait (0)
    settings.FOOTBALL_DATA_REQUESTS_PER_MINUTE = 1
    settings.FOOTBALL_DATA_COMPETITIONS = ["PL", "FAC"]
    assert settings.FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT == 0
    # When the sync runs (eagerly: each retry runs at once, and finds the limiter still full)
    started = time.monotonic()
    result = sync_fixtures.apply()
    # Then no process slept for the minute: every attempt gave up at once with a countdown
    assert time.monotonic() - started < 10
    countdowns = _countdowns(caplog)
    assert len(countdowns) == sync_fixtures.max_retries
    assert all(55 <= c <= 60 + RATE_LIMIT_JITTER_SECONDS for c in countdowns)
    # And the retries asked only for what was left: PL was fetched once, FAC never got a slot
    assert [r.path for r in football_api.requests] == ["/v4/competitions/PL/matches"]
    assert result.state == "FAILURE"
    assert "rate limit reached" in str(result.result)
    assert Match.objects.filter(competition__code="PL").exists()


@pytest.mark.parametrize("retry_after", [0.001, 1, 1.5, 48, 100_000])
def test_rate_limited_countdown_is_never_early_jittered_and_bounded(settings, retry_after):
    countdowns = {rate_limited_countdown(retry_after) for _ in range(200)}
    earliest = math.ceil(retry_after) + 1
    latest = math.ceil(retry_after) + RATE_LIMIT_JITTER_SECONDS
    if latest <= settings.CELERY_MAX_COUNTDOWN:
        assert min(countdowns) >= earliest
        assert max(countdowns) <= latest
        assert len(countdowns) > 1  # jittered
    else:
        assert countdowns == {settings.CELERY_MAX_COUNTDOWN}


def test_a_server_error_is_retried(football_api):
    football_api.fail_next(503)
    assert sync_fixtures.apply().state == "SUCCESS"
    assert [r.status for r in football_api.requests] == [503, 200]


def test_an_auth_error_is_not_retried(football_api):
    football_api.fail_next(403)
    result = sync_fixtures.apply()
    assert result.state == "FAILURE"
    assert isinstance(result.result, FootballDataAuthError)


def test_sync_results_stores_matches(football_api):
    assert sync_results.apply(kwargs={"settle": False}).get() > 0
    assert Match.objects.filter(status="FINISHED").exists()


def test_tasks_have_soft_and_hard_time_limits():
    for task in (sync_fixtures, sync_results, settle_tickets, settle_ticket_chunk, settle_sweep):
        soft, hard = task.soft_time_limit, task.time_limit
        assert soft is not None
        assert hard is not None
        assert 0 < soft < hard


@pytest.fixture
def chunks(monkeypatch) -> list[list[int]]:
    """The chunks enqueued, recorded instead of sent."""
    sent: list[list[int]] = []
    monkeypatch.setattr(settle_ticket_chunk, "delay", sent.append)
    return sent


def test_settlement_fans_out_once_however_often_it_is_triggered(chunks, settings):
    settings.FOOTBALL_DATA_SETTLE_CHUNK_SIZE = 4
    matches_upsert(payload=matches_payload(days_back=3, days_ahead=0))
    demo_tickets_seed(tickets=10, decided_only=True)
    assert settle_tickets.apply().get() == 10
    assert settle_tickets.apply().get() == 0
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]


def test_the_fan_out_enqueues_each_round_before_claiming_the_next(chunks, settings, monkeypatch):
    # Given 10 settleable tickets, chunks of 3 and rounds of one chunk
    settings.FOOTBALL_DATA_SETTLE_CHUNK_SIZE = 3
    monkeypatch.setattr(tasks, "FAN_OUT_ROUND_CHUNKS", 1)
    matches_upsert(payload=matches_payload(days_back=3, days_ahead=0))
    demo_tickets_seed(tickets=10, decided_only=True)
    claim = services.tickets_claim_settleable
    enqueued_before_claim: list[int] = []

    def recording_claim(*, limit: int) -> list[int]:
        enqueued_before_claim.append(len(chunks))
        return claim(limit=limit)

    monkeypatch.setattr(services, "tickets_claim_settleable", recording_claim)
    # When the fan-out runs / Then every round's chunk went out before the next claim
    assert settle_tickets.apply().get() == 10
    assert enqueued_before_claim == [0, 1, 2, 3]
    # And every ticket is in exactly one chunk, and a second fan-out finds none
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(
        Ticket.objects.values_list("pk", flat=True)
    )
    assert settle_tickets.apply().get() == 0


def test_the_sweep_re_enqueues_a_lost_chunk_once_nothing_waits_in_the_queue(
    chunks, settings, monkeypatch
):
    # Given a chunk of ten tickets enqueued 20 s ago and never run (its worker was killed)
    matches_upsert(payload=matches_payload(days_back=3, days_ahead=0))
    demo_tickets_seed(tickets=10, decided_only=True)
    settle_tickets.apply()
    [lost] = chunks
    Ticket.objects.update(settle_queued_at=timezone.now() - datetime.timedelta(seconds=20))
    settings.FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS = 10
    # When the sweep runs while other chunks still wait in the queue / Then it waits for them
    monkeypatch.setattr(tasks, "messages_waiting", lambda task: 3)
    assert settle_sweep.apply().get() == 0
    # When the queue is empty / Then the lost tickets go again, once
    monkeypatch.setattr(tasks, "messages_waiting", lambda task: 0)
    assert settle_sweep.apply().get() == 10
    assert settle_sweep.apply().get() == 0
    assert chunks[1:] == [lost]
    # And a sweep at a worker's start, with a shorter threshold, finds the fresh claims too
    assert settle_sweep.apply(kwargs={"stuck_after": 0}).get() == 10
    assert chunks[2:] == [lost]
    # And once a chunk looked at them, nothing is overdue
    settle_ticket_chunk.apply(args=(lost,))
    settings.FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS = 0
    assert settle_sweep.apply().get() == 0


def test_the_sweep_reads_the_real_queue_depth(settings):
    # The cpu queue of the private Redis, which no worker consumes in this test
    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        client.delete("cpu")
    assert tasks.messages_waiting(settle_ticket_chunk) == 0


def test_every_worker_cpu_sweeps_settlement_more_often_than_a_claim_turns_overdue(settings):
    entry = WORKER_SCHEDULE["football-data-settle-sweep"]
    assert entry["task"] == settle_sweep.name
    assert entry["schedule"] < settings.FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS
