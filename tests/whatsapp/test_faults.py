"""Faults on a real gevent worker-io, real Redis and the test database, with the WhatsApp
stand-in at 200 ms a call: every message arrives exactly once, in order, within seconds of the
fault clearing, and the worker logs nothing it could not recover from."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from tests.scratch import REPO_DIR
from tests.stack import Stack, wait_until
from tests.whatsapp.conftest import bodies, reply_text
from whatsapp import dispatch
from whatsapp.models import Contact, OutboundMessage, OutboundStatus
from whatsapp.services import text_send_staggered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

LATENCY = 0.2
UNRECOVERABLE = ("CRITICAL", "Couldn't ack", "MaxConnectionsError", "Unrecoverable error")
CONTACTS, PARTS = 50, 10
REPORT = REPO_DIR / "var" / "fault-report.md"


class Report:
    """One row per fault for the closing note, written to var/fault-report.md."""

    def __init__(self) -> None:
        self.rows = ["| fault | beat | sent | delivered | duplicated | lost | last delivery |"]
        self.rows.append("|---|---|---|---|---|---|---|")

    def add(self, fault: str, beat: bool, sent: int, delivered: int, total: int, took: float):
        duplicated, lost = sent - delivered, total - delivered
        self.rows.append(
            f"| {fault} | {'yes' if beat else 'no'} | {sent} | {delivered} | {duplicated} "
            f"| {lost} | {took:.1f} s after the fault cleared |"
        )


@pytest.fixture(scope="module")
def report() -> Iterator[Report]:
    collected = Report()
    yield collected
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(collected.rows) + "\n")
    print("\n" + "\n".join(collected.rows))


@pytest.fixture(params=[False, True], ids=["without-beat", "with-beat"])
def beat(request, worker, stack: Stack, session_dir) -> Iterator[bool]:
    if request.param:
        stack.ensure("beat", **worker, CELERY_BEAT_SCHEDULE_FILE=str(session_dir / "beat-schedule"))
    yield request.param
    stack.stop("beat")


def realistic(worker: dict[str, str]) -> dict[str, str]:
    """worker-io as deployed: the default sweep threshold, not the tests' one second."""
    return {k: v for k, v in worker.items() if k != "WHATSAPP_SWEEP_AFTER_SECONDS"}


def replies(count: int = CONTACTS, parts: int = PARTS) -> dict[str, list[int]]:
    return {
        f"1555000{n:04d}": text_send_staggered(to=f"1555000{n:04d}", text=reply_text(parts))
        for n in range(count)
    }


def delivered_exactly_once_in_order(standin, sent: dict[str, list[int]], timeout: float) -> float:
    """Wait until every part arrived; the seconds it took. Then: once each, in order."""
    started = time.monotonic()
    total = sum(len(ids) for ids in sent.values())
    wait_until(lambda: len({(r.to, r.body) for r in standin.delivered()}) >= total, timeout)
    took = time.monotonic() - started
    by_contact = defaultdict(list)
    for received in standin.delivered():
        by_contact[received.to].append(received)
    expected = [f"part {n:02d}" for n in range(1, PARTS + 1)]
    for to in sent:
        assert bodies(by_contact[to]) == expected, to
    rows = OutboundMessage.objects.filter(pk__in=[i for ids in sent.values() for i in ids])
    done = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.READ)
    wait_until(lambda: not rows.exclude(status__in=done).exists(), timeout=15)
    return took


def clean(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(bad in line for bad in UNRECOVERABLE)]


def due_together(count: int, in_seconds: float) -> list[int]:
    """``count`` one-part messages to as many contacts, all due at the same moment."""
    due = timezone.now() + dt.timedelta(seconds=in_seconds)
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(Contact(wa_id=f"1555{n:07d}") for n in range(count))
        rows = OutboundMessage.objects.bulk_create(
            OutboundMessage(
                contact=contact,
                body=f"burst {n}",
                batch=f"00000000-0000-0000-0000-{n:012d}",
                scheduled_at=due,
                next_attempt_at=due,
            )
            for n, contact in enumerate(contacts)
        )
        for row in rows:
            dispatch.message_send_on_commit(message_id=row.pk, countdown=in_seconds)
    return [row.pk for row in rows]


def test_a_burst_of_1000_sends_due_at_the_same_second_is_sent_once_each(
    worker, stack, standin, report
):
    standin.latency = LATENCY
    log_before = len(stack.log("worker-io"))
    # given 1,000 sends held by the worker as countdown tasks, all due at the same second
    ids = due_together(1000, in_seconds=8)
    due_at = time.monotonic() + 8
    # when they fall due, then every one is sent exactly once
    wait_until(lambda: len(standin.delivered()) >= 1000, timeout=90, interval=0.2)
    took = time.monotonic() - due_at
    assert len(standin.received()) == 1000
    assert sorted(r.body for r in standin.delivered()) == sorted(f"burst {n}" for n in range(1000))
    sent = OutboundMessage.objects.filter(pk__in=ids, status=OutboundStatus.SENT)
    wait_until(lambda: sent.count() == 1000, timeout=10)
    # and every message was acknowledged: nothing waits in Redis to run again after the
    # visibility timeout, and the log is clean
    with redis.Redis.from_url(stack.app.conf.broker_url) as client:
        wait_until(lambda: client.hlen("unacked") == 0, timeout=10)
    assert clean(stack.log("worker-io")[log_before:]) == []
    received = Counter(r.body for r in standin.delivered())
    report.add(
        "1,000 sends due at the same second",
        False,
        len(standin.received()),
        len(received),
        1000,
        took,
    )
    # 1,000 calls at 200 ms through 100 greenlets take at least 2 s.
    assert took < 30, took


def test_sigkill_of_worker_io_mid_batch_then_restart(worker, beat, stack, status_webhooks, report):
    stack.ensure("worker-io", **realistic(worker))
    status_webhooks.latency = LATENCY
    log_before = len(stack.log("worker-io"))
    # given 50 replies of 10 parts on their way
    sent = replies()
    wait_until(lambda: len(status_webhooks.delivered()) >= 150, timeout=60, interval=0.01)
    # when worker-io is killed (no chance to requeue what it holds) and started again
    stack.kill("worker-io")
    stack.ensure("worker-io", **realistic(worker))
    # then every part arrives exactly once and in order, soon after the restart
    took = delivered_exactly_once_in_order(status_webhooks, sent, timeout=60)
    received = Counter((r.to, r.body) for r in status_webhooks.delivered())
    report.add(
        "SIGKILL worker-io mid-batch, restart",
        beat,
        sum(received.values()),
        len(received),
        CONTACTS * PARTS,
        took,
    )
    assert max(received.values()) == 1
    assert took < 30, took
    assert clean(stack.log("worker-io")[log_before:]) == []
