"""Staggered replies through a real gevent worker-io, real Redis and the test database; only
Meta is replaced (by the in-process stand-in on 127.0.0.1)."""

import datetime as dt
import itertools
import json
import math
import statistics
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from devstack.standins._whatsapp_limits import Limits, MetaLimits
from devstack.standins.whatsapp import WhatsAppStandIn, inbound_text_payload
from tests.stack import node_name, wait_for_node, wait_until
from tests.whatsapp.conftest import PAIR_INTERVAL, bodies, post_webhook, reply_text, user_wrote
from whatsapp.models import (
    FINAL_STATUSES,
    Contact,
    OutboundMessage,
    OutboundStatus,
    StatusEvent,
)
from whatsapp.pair import PairRule
from whatsapp.services import template_send, text_send_staggered

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

TO = "15551234567"


def _wait_final(ids: list[int], timeout: float) -> list[OutboundMessage]:
    def final() -> list[OutboundMessage]:
        rows = list(OutboundMessage.objects.filter(pk__in=ids).order_by("position"))
        return rows if all(r.status in FINAL_STATUSES for r in rows) else []

    return wait_until(final, timeout, interval=0.1)


def test_a_22_part_reply_arrives_complete_in_order_and_never_early(worker, standin):
    # given the user wrote (their 24-hour window is open)
    user_wrote(TO, standin=standin)
    expected = [f"part {n:02d}" for n in range(1, 23)]
    # when
    ids = text_send_staggered(to=TO, text=reply_text(22))
    # then all 22 reach the API, in order, each once
    received = standin.wait_for(22, timeout=60)
    assert bodies(received) == expected
    assert len(standin.received()) == 22
    # and none before its countdown (position x spacing after the rows were created)
    rows = _wait_final(ids, timeout=10)
    for row, request in zip(rows, received, strict=True):
        assert request.at >= row.scheduled_at.timestamp() - 0.001, row.position
        assert (row.status, row.wamid, row.attempts) == (OutboundStatus.SENT, request.wamid, 1)


def test_order_holds_when_a_middle_part_is_retried(worker, standin):
    # given the user wrote, and the API fails part 11 once with a transient error
    user_wrote(TO, standin=standin)
    standin.add_fault(code=131000, body_contains="part 11")
    # when
    ids = text_send_staggered(to=TO, text=reply_text(22))
    # then every part arrives once, in order, part 11 on its second attempt
    received = standin.wait_for(22, timeout=60)
    assert bodies(received) == [f"part {n:02d}" for n in range(1, 23)]
    assert [r.fault for r in standin.received()].count("131000") == 1
    rows = _wait_final(ids, timeout=10)
    retried = rows[10]
    assert (retried.attempts, retried.last_error_code) == (2, 131000)
    assert all(r.status == OutboundStatus.SENT for r in rows)


def test_order_and_exactly_once_hold_under_a_random_fault_mix(worker, standin):
    # given the user wrote, and an API that fails about one request in five with transient errors
    user_wrote(TO, standin=standin)
    standin.set_fault_mix({131000: 0.1, 130429: 0.05, "http500": 0.05})
    # when
    ids = text_send_staggered(to=TO, text=reply_text(10))
    rows = _wait_final(ids, timeout=90)
    # then every part was accepted exactly once, in order, whatever failed on the way
    assert bodies(standin.delivered()) == [f"part {n:02d}" for n in range(1, 11)]
    assert all(r.status == OutboundStatus.SENT for r in rows)
    # and each request counted as an attempt but the number's pace refusals (130429)
    counted = [r for r in standin.received() if r.fault != "130429"]
    assert sum(r.attempts for r in rows) == len(counted)


def test_pair_rate_limit_retry_waits_for_the_contacts_free_time(worker, standin):
    # given the user wrote, and their pair rate limit is hit on part 3
    user_wrote(TO, standin=standin)
    standin.add_fault(code=131056, body_contains="part 03")
    # when
    ids = text_send_staggered(to=TO, text=reply_text(5))
    # then part 3 is tried again one pair interval later (not 4^X s), and order holds
    received = standin.wait_for(5, timeout=60)
    assert bodies(received) == [f"part {n:02d}" for n in range(1, 6)]
    attempts = [r for r in standin.received() if r.body.startswith("part 03")]
    assert len(attempts) == 2
    assert PAIR_INTERVAL <= attempts[1].at - attempts[0].at < PAIR_INTERVAL + 0.5
    assert _wait_final(ids, timeout=10)[2].last_error_code == 131056


def test_a_permanent_error_fails_the_part_and_never_blocks_what_follows(worker, standin):
    # given the user wrote, and part 3 of 6 is undeliverable
    user_wrote(TO, standin=standin)
    standin.add_fault(code=131026, body_contains="part 03")
    # when
    ids = text_send_staggered(to=TO, text=reply_text(6))
    rows = _wait_final(ids, timeout=30)
    # then part 3 failed with the code, the rest of that reply was skipped
    assert [r.status for r in rows] == ["sent", "sent", "failed", "failed", "failed", "failed"]
    assert rows[2].last_error_code == 131026
    assert bodies(standin.delivered()) == ["part 01", "part 02"]
    # and the next reply to the same contact goes out
    [later] = text_send_staggered(to=TO, text="after the failure")
    assert _wait_final([later], timeout=20)[0].status == OutboundStatus.SENT


def lost_wake_up(body: str, overdue_by: float, standin: WhatsAppStandIn) -> None:
    """A message due ``overdue_by`` seconds ago to a user who wrote, whose wake-up was lost:
    nothing on the queue."""
    overdue = timezone.now() - dt.timedelta(seconds=overdue_by)
    user_wrote(TO, standin=standin)
    OutboundMessage.objects.create(
        contact=Contact.objects.get(wa_id=TO),
        body=body,
        batch=uuid.uuid4(),
        scheduled_at=overdue,
        next_attempt_at=overdue,
    )


def test_worker_io_recovers_a_lost_wake_up_by_itself_without_beat(worker, stack, standin):
    # given a message whose wake-up was lost (nothing on the queue), overdue; no beat runs
    lost_wake_up("lost and found", overdue_by=5, standin=standin)
    # when worker-io sweeps on its own schedule, then the message goes out once
    wait_until(lambda: len(standin.delivered()) == 1, timeout=20, interval=0.1)
    assert standin.delivered()[0].body == "lost and found"
    assert "sweeper re-enqueued 1 message(s)" in stack.log("worker-io")


def test_worker_io_starting_sends_at_once_what_its_predecessor_held(worker, stack, standin):
    # given worker-io gone, and a message 3 s overdue whose wake-up was held by the worker that
    # died (nothing on the queue)
    stack.stop("worker-io")
    lost_wake_up("held by the dead", overdue_by=3, standin=standin)
    # when worker-io starts with the deployed sweep threshold (15 s overdue)
    deployed = {k: v for k, v in worker.items() if k != "WHATSAPP_SWEEP_AFTER_SECONDS"}
    stack.ensure("worker-io", **deployed)
    # then it goes out well before its periodic sweep would take it (12 s from now): the sweep
    # at connection takes anything overdue
    wait_until(lambda: len(standin.delivered()) == 1, timeout=8, interval=0.1)
    assert standin.delivered()[0].body == "held by the dead"


def test_an_inbound_help_webhook_is_answered_through_the_worker(worker, standin, client):
    # given a signed inbound "help" posted to the webhook view, which opened the user's window
    # at Meta too (the stand-in is told, as it posts none itself here)
    payload = inbound_text_payload(wa_id=TO, text="help", name="Ada")
    [message] = payload["entry"][0]["changes"][0]["value"]["messages"]
    standin.open_window(TO, at=int(message["timestamp"]))
    response = post_webhook(client, json.dumps(payload).encode())
    # then the worker processes it and the help text reaches the API
    assert response.status_code == 200
    [reply] = standin.wait_for(1, timeout=30)
    assert reply.to == TO
    assert reply.body.startswith("Commands:")


def test_the_demo_command_runs_end_to_end(worker, standin, live_server, capsys):
    # when the demo pushes a signed "help" to the running web app and queues a long reply
    call_command("whatsapp_demo", base_url=live_server.url, paragraphs=40, timeout=60)
    # then it reports success, and the stand-in got the help reply and every part, in order
    out = capsys.readouterr().out
    assert "done: every part sent, in order" in out
    bodies = [r.body for r in standin.delivered()]
    assert bodies[0].startswith("Commands:")
    paragraphs = [int(b.split()[1].rstrip(".")) for b in bodies[1:]]
    assert paragraphs == sorted(paragraphs)
    assert len(bodies) > 2


def test_status_webhooks_from_the_api_carry_the_message_to_read(worker, status_webhooks):
    # when a message is sent to a user who wrote, and the API reports its progress
    user_wrote(TO, standin=status_webhooks)
    [message_id] = text_send_staggered(to=TO, text="hello")
    wait_until(
        lambda: OutboundMessage.objects.filter(pk=message_id, status=OutboundStatus.READ).exists(),
        timeout=30,
        interval=0.1,
    )
    # then the row went all the way, with each status recorded once
    message = OutboundMessage.objects.get(pk=message_id)
    assert message.delivered_at is not None
    assert message.read_at is not None
    assert sorted(StatusEvent.objects.filter(message=message).values_list("status", flat=True)) == [
        "delivered",
        "read",
        "sent",
    ]


def test_a_template_goes_out_through_the_worker_and_its_statuses_come_back(worker, status_webhooks):
    # when a template is queued
    message_id = template_send(
        to=TO, name="payment_received", language="en_US", params=["Ada", "€12.50"]
    )
    # then the API got it as a template, its text filled in
    [request] = status_webhooks.wait_for(1, timeout=30)
    assert request.payload["type"] == "template"
    assert request.body == "Hi Ada, we received your payment of €12.50. Thank you!"
    # and the row went all the way to read under Meta's id, on its first attempt
    wait_until(
        lambda: OutboundMessage.objects.filter(pk=message_id, status=OutboundStatus.READ).exists(),
        timeout=30,
        interval=0.1,
    )
    message = OutboundMessage.objects.get(pk=message_id)
    assert (message.wamid, message.attempts) == (request.wamid, 1)


def test_a_paused_template_fails_at_once_through_the_worker(worker, standin):
    # given Meta has paused the template, and the user wrote
    user_wrote(TO, standin=standin)
    standin.set_template_status("payment_reminder", "en_US", "PAUSED")
    # when it is queued, with a text behind it to the same contact
    message_id = template_send(
        to=TO, name="payment_reminder", language="en_US", params=["Ada", "€12", "1 May"]
    )
    [behind] = text_send_staggered(to=TO, text="after the template")
    # then it failed on its first attempt with Meta's code, and the text still went
    _wait_final([message_id, behind], timeout=20)
    rows = OutboundMessage.objects.in_bulk([message_id, behind])
    failed, sent = rows[message_id], rows[behind]
    assert (failed.status, failed.attempts, failed.last_error_code) == ("failed", 1, 132015)
    assert "Template is Paused" in failed.last_error_text
    assert sent.status == OutboundStatus.SENT
    assert [r.fault for r in standin.received()] == ["template 132015", None]
    assert [r.body for r in standin.delivered()] == ["after the template"]


def test_stopping_worker_io_lets_sends_in_flight_finish_and_puts_held_parts_back(
    worker, stack, standin, settings, private_redis
):
    # given five one-part replies in flight (the API answers after 2 s) and a three-part reply
    # whose second part the worker holds as a countdown task (30 s after the first: part 1 woke
    # it when it was sent)
    standin.latency = 2.0
    settings.WHATSAPP_PART_SPACING_SECONDS = 30.0
    stack.ensure("worker-io", **{**worker, "WHATSAPP_PART_SPACING_SECONDS": "30"})
    for to in [*(f"1555000{n:04d}" for n in range(5)), TO]:
        user_wrote(to, standin=standin)
    singles = [text_send_staggered(to=f"1555000{n:04d}", text=f"single {n}")[0] for n in range(5)]
    staggered = text_send_staggered(to=TO, text=reply_text(3))
    wait_until(lambda: len(standin.received()) == 6, timeout=20, interval=0.05)
    client = private_redis.client()
    wait_until(lambda: client.hlen("unacked") == 1, timeout=10)
    # when worker-io is stopped as `docker compose stop` does (one SIGTERM)
    stopped = stack.stop_watched("worker-io")
    # then it exited cleanly, once the sends in flight were answered, not cut
    assert stopped.code == 0, stopped.log[-3000:]
    assert stopped.seconds < 15
    for marker in ("CRITICAL", "BlockingSwitchOutError", "Couldn't ack", "Traceback"):
        assert marker not in stopped.log
    first_parts = OutboundMessage.objects.filter(pk__in=[*singles, staggered[0]])
    assert {r.status for r in first_parts} == {OutboundStatus.SENT}
    assert len(standin.delivered()) == 6
    # and the held part is back on the queue, not left for the visibility timeout
    assert client.hlen("unacked") == 0
    assert client.llen("io") == 1
    # and a new worker sends them, each once, in order
    standin.latency = 0.0
    stack.ensure("worker-io", **worker)
    rows = _wait_final(staggered, timeout=90)
    assert [r.status for r in rows] == [OutboundStatus.SENT] * 3
    parts = [body for body in bodies(standin.delivered()) if body.startswith("part")]
    assert parts == ["part 01", "part 02", "part 03"]
    assert len(standin.received()) == 8


def test_two_worker_io_nodes_keep_to_the_numbers_level_together(worker, stack, standin, settings):
    # Given a number Meta holds to 20 messages a second, and two worker-io nodes sending for it
    standin.meta = MetaLimits(Limits(messages_per_second=20, pair_interval=0))
    env = {**worker, "WHATSAPP_MESSAGES_PER_SECOND": "20"}
    settings.WHATSAPP_MESSAGES_PER_SECOND = 20
    stack.ensure("worker-io", **env)
    stack.ensure("worker-io", instance="io-second", **env)
    try:
        wait_for_node(stack.app, node_name("worker-io").replace("io@", "io-second@"))
        # When 240 one-part messages to 240 contacts who wrote are queued at once
        for n in range(240):
            user_wrote(f"1555200{n:04d}", standin=standin)
        ids = [text_send_staggered(to=f"1555200{n:04d}", text=f"broadcast {n}")[0]
               for n in range(240)]  # fmt: skip
        _wait_final(ids, timeout=60)
    finally:
        stack.stop("io-second")
    # Then Meta refused none of them for the number's pace (the stand-in's bucket of 20)
    accepted = sorted(r.at for r in standin.delivered())
    assert len(accepted) == 240
    assert standin.refusals() == {}
    # and together they sent at no more than the level, and at least 0.9 of it
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    assert 0.9 * 20 <= rate <= 20 * 1.05, rate
    # and both nodes sent
    for log in (stack.log("worker-io"), stack.log("io-second")):
        assert "whatsapp.tasks.send_message" in log


def _pair_scaled(
    worker, stack, standin, settings, *, interval: float, spacing: float, **env: str
) -> PairRule:
    """The pair rule scaled to ``interval`` at the stand-in, in this process and in a worker-io
    started for it, with parts ``spacing`` apart."""
    standin.meta = MetaLimits(Limits(messages_per_second=80, pair_interval=interval))
    settings.WHATSAPP_PAIR_INTERVAL_SECONDS = interval
    settings.WHATSAPP_PART_SPACING_SECONDS = spacing
    scaled = {
        "WHATSAPP_PAIR_INTERVAL_SECONDS": str(interval),
        "WHATSAPP_PART_SPACING_SECONDS": str(spacing),
    }
    stack.ensure("worker-io", **{**worker, **scaled, **env})
    return PairRule(interval=dt.timedelta(seconds=interval), burst=45)


def test_two_long_replies_in_a_row_keep_to_the_pair_rule(worker, stack, standin, settings):
    # Given Meta's pair rule scaled down to 0.5 s (its window, less the margin a request may
    # take, 0.45 s) and bursts of 45, and parts 0.05 s apart: 9 parts fit one burst
    rule = _pair_scaled(worker, stack, standin, settings, interval=0.5, spacing=0.05)
    user_wrote(TO, standin=standin)
    # When two 22-part replies to one contact are queued one right after the other
    first = text_send_staggered(to=TO, text=reply_text(22))
    second = text_send_staggered(to=TO, text=reply_text(22))
    # Then the rows the rule holds back say so: 22 parts go as 4 + 9 + 9 (the short burst
    # first), and the second reply waits for the time the first one's last burst borrowed
    held = OutboundMessage.objects.filter(pk__in=[*first, *second], waiting_for="pair")
    assert sorted(held.values_list("pk", flat=True)) == [
        first[4],
        first[13],
        second[0],
        second[4],
        second[13],
    ]
    rows = _wait_final([*first, *second], timeout=90)
    assert [r.status for r in rows] == [OutboundStatus.SENT] * 44
    # and Meta refused nothing, and every part arrived once, in order
    assert standin.refusals() == {}
    delivered = standin.delivered()
    assert bodies(delivered) == [f"part {n:02d}" for n in range(1, 23)] * 2
    # and each burst started at most 0.3 s after the time the one before it borrowed: no time
    # is lost between bursts (how many there are follows the pace the parts really went at)
    at = [T0 + dt.timedelta(seconds=r.at - delivered[0].at) for r in delivered]
    state = None
    for n, moment in enumerate(at):
        if n and rule.window_end(state, moment) is None:
            assert state is not None
            assert moment - state.free_at < dt.timedelta(seconds=0.3), (n, moment - at[0])
        state = rule.after(state, requested_at=moment, answered_at=moment)


T0 = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def _bursts(arrivals: list[float], rule: PairRule) -> list[tuple[float, float, int]]:
    """The bursts the stand-in saw for one contact: first and last arrival, and parts."""
    bursts: list[tuple[float, float, int]] = []
    state = None
    for at in arrivals:
        moment = T0 + dt.timedelta(seconds=at)
        if rule.window_end(state, moment) is None:
            bursts.append((at, at, 1))
        else:
            first, _, parts = bursts[-1]
            bursts[-1] = (first, at, parts + 1)
        state = rule.after(state, requested_at=moment, answered_at=moment)
    return bursts


def test_a_worker_carries_one_burst_per_slot_and_the_next_reply_waits_for_it(
    worker, stack, standin, settings
):
    # Given the pair rule scaled down to 0.5 s, parts 0.03 s apart, and a worker-io that
    # carries one burst at a time
    rule = _pair_scaled(
        worker, stack, standin, settings, interval=0.5, spacing=0.03, WHATSAPP_BURSTS_PER_WORKER="1"
    )
    # When 8-part replies to three contacts who wrote are queued at once
    contacts = ["15550000001", "15550000002", "15550000003"]
    for to in contacts:
        user_wrote(to, standin=standin)
    ids = [i for to in contacts for i in text_send_staggered(to=to, text=reply_text(8))]
    rows = _wait_final(ids, timeout=60)
    # Then every part went once, in order, and Meta refused nothing
    assert all(r.status == OutboundStatus.SENT for r in rows)
    assert standin.refusals() == {}
    start = standin.delivered()[0].at
    bursts = []
    for to in contacts:
        mine = [r for r in standin.delivered() if r.to == to]
        assert bodies(mine) == [f"part {n:02d}" for n in range(1, 9)]
        bursts += _bursts([r.at - start for r in mine], rule)
    # and no two bursts were under way at once: each reply waited for the slot
    bursts.sort()
    for (_, end, _), (begin, _, _) in itertools.pairwise(bursts):
        assert begin > end, bursts


def test_a_reply_slower_than_its_spacing_sends_its_short_burst_first(
    worker, stack, standin, settings
):
    # Given the pair rule scaled to 1 s (a window of 0.9 s) and parts 0.02 s apart, but an API
    # that answers in 0.1 s: a part goes at most every 0.1 s, so about 8 fit one burst
    standin.latency = 0.1
    interval = 1.0
    rule = _pair_scaled(worker, stack, standin, settings, interval=interval, spacing=0.02)
    # When a 10-part reply to a user who wrote is queued
    user_wrote(TO, standin=standin)
    ids = text_send_staggered(to=TO, text=reply_text(10))
    rows = _wait_final(ids, timeout=60)
    # Then it arrived whole and in order, Meta refused nothing
    assert all(r.status == OutboundStatus.SENT for r in rows)
    assert standin.refusals() == {}
    delivered = standin.delivered()
    assert bodies(delivered) == [f"part {n:02d}" for n in range(1, 11)]
    # and it was done sooner than sending as many parts as fit the first burst would be: at
    # the pace the parts went, those fill a burst, and the rest wait an interval for each
    at = [r.at - delivered[0].at for r in delivered]
    pace = statistics.median(b - a for a, b in itertools.pairwise(at) if b - a < interval / 2)
    greedy = min(10, math.ceil(0.9 / pace))
    greedy_done = greedy * interval + (10 - greedy - 1) * pace
    assert at[-1] < greedy_done, (pace, _bursts(at, rule))
