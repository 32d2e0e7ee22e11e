"""Faults on a real prefork worker-cpu, real Redis and the test database: settlement killed in
the middle settles every ticket exactly once, within seconds of the restart, and the worker logs
nothing it could not recover from."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from devstack.standins.football_data import matches_payload
from football_data.demo import demo_tickets_seed
from football_data.models import Payout, Selection, SelectionResult, Ticket, TicketStatus
from football_data.services import matches_upsert
from football_data.tasks import settle_tickets
from tests.faults import Report, clean, log_kept
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

# A few seconds of settlement on two processes (12 chunks of 500), so the kill lands mid-way.
TICKETS = 6_000
KILL_AFTER_SETTLED = 1_500


@pytest.fixture
def cpu_worker(stack: Stack, clean_queues: None) -> dict[str, Any]:
    """worker-cpu as deployed (two processes here), alone: worker-io plays no part."""
    env: dict[str, Any] = {"WORKER_CPU_CONCURRENCY": "2"}
    stack.stop("worker-io")
    stack.ensure("worker-cpu", **env)
    return env


@pytest.fixture(autouse=True)
def keep_logs(request, stack: Stack) -> Iterator[None]:
    with log_kept(stack, "worker-cpu", request.node.name):
        yield


@pytest.fixture(params=[False, True], ids=["without-beat", "with-beat"])
def beat(request, cpu_worker, stack: Stack, session_dir) -> Iterator[bool]:
    if request.param:
        schedule = session_dir / "football-data-faults-beat-schedule"
        stack.ensure("beat", **cpu_worker, CELERY_BEAT_SCHEDULE_FILE=str(schedule))
    yield request.param
    stack.stop("beat")


def settled_at() -> dict[int, object]:
    return dict(Ticket.objects.exclude(status=TicketStatus.OPEN).values_list("pk", "settled_at"))


def restore_unacked(broker_url: str) -> int:
    """What Redis does for a dead worker's messages once the visibility timeout (an hour) has
    passed: put them back on their queue. Returns how many there were."""
    with redis.Redis.from_url(broker_url) as client:
        held = client.hgetall("unacked")
        for tag, value in held.items():
            message, _exchange, routing_key = json.loads(value)
            client.lpush(routing_key, json.dumps(message))
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
        return len(held)


def test_sigkill_of_worker_cpu_mid_settlement_then_restart(cpu_worker, beat, stack, report: Report):
    log_before = len(stack.log("worker-cpu"))
    # given 6,000 open tickets on decided matches, settling on worker-cpu in chunks
    matches_upsert(payload=matches_payload(days_back=10, days_ahead=0))
    assert demo_tickets_seed(tickets=TICKETS, max_legs=3, decided_only=True) == TICKETS
    settle_tickets.delay()
    settled = Ticket.objects.exclude(status=TicketStatus.OPEN)
    wait_until(lambda: settled.count() >= KILL_AFTER_SETTLED, timeout=60, interval=0.05)
    # when worker-cpu (parent and children) is killed mid-way, and started again
    stack.kill("worker-cpu")
    before_restart = settled_at()
    assert KILL_AFTER_SETTLED <= len(before_restart) < TICKETS
    restarted = time.monotonic()
    stack.ensure("worker-cpu", **cpu_worker)
    # then every ticket settles, soon after the restart and without waiting for the visibility
    # timeout (what the killed worker held waits in Redis for an hour)
    still_open = Ticket.objects.filter(status=TicketStatus.OPEN)
    try:
        wait_until(lambda: not still_open.exists(), timeout=90)
    except AssertionError:
        raise AssertionError(f"{still_open.count()} tickets open 90 s after the restart") from None
    took = time.monotonic() - restarted
    # and once each: the tickets settled before the kill were not settled again
    after = settled_at()
    resettled = [pk for pk, at in before_restart.items() if after[pk] != at]
    assert resettled == []
    # and even when the killed worker's messages come back, nothing is settled twice
    came_back = restore_unacked(stack.app.conf.broker_url)
    assert came_back >= 1
    with redis.Redis.from_url(stack.app.conf.broker_url) as client:
        wait_until(lambda: client.llen("cpu") == 0 and client.hlen("unacked") == 0, timeout=30)
    time.sleep(1)  # the last redelivered chunk commits (or finds nothing) after it is acked
    assert settled_at() == after
    paid = Ticket.objects.filter(payout__gt=0)
    assert Payout.objects.count() == paid.count()
    assert dict(Payout.objects.values_list("ticket_id", "amount")) == dict(
        paid.values_list("pk", "payout")
    )
    assert not Selection.objects.filter(result=SelectionResult.OPEN).exists()
    report.add(
        f"SIGKILL worker-cpu mid-settlement ({TICKETS:,} tickets; held chunks redelivered "
        f"later: {came_back}), restart",
        beat,
        len(after) + len(resettled),
        len(after),
        TICKETS,
        took,
    )
    assert took < 30, took
    assert clean(stack.log("worker-cpu")[log_before:]) == []
