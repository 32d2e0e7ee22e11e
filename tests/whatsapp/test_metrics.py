"""The WhatsApp app's series (whatsapp.metrics): each send request counted by outcome and Meta's
code as the real send path meets the stand-in, and what web's scrape reads of the number's pace
and the waiting messages."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.whatsapp.conftest import user_wrote
from whatsapp.metrics import COLLECTORS
from whatsapp.services import message_send, text_send_staggered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]


def sends(outcome: str, code: str = "") -> float:
    return (
        REGISTRY.get_sample_value("whatsapp_sends_total", {"outcome": outcome, "code": code}) or 0
    )


def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What web's /metrics shows of the app's collectors, read through the exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in COLLECTORS.values():
        registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def queued(wa_ids: list[str], standin, capture) -> list[int]:
    for wa_id in wa_ids:
        user_wrote(wa_id, standin=standin)
    with capture(execute=False):
        return [text_send_staggered(to=wa_id, text=f"hi {wa_id}")[0] for wa_id in wa_ids]


def test_a_send_that_goes_out_and_one_meta_refuses_are_counted_apart(
    standin, django_capture_on_commit_callbacks
):
    # given a message, Meta refusing the first send request for the number's pace
    [first] = queued(["15553000001"], standin, django_capture_on_commit_callbacks)
    standin.add_fault(code=130429, nth=1)
    sent, refused = sends("sent"), sends("refused", "130429")
    # when it is sent
    assert message_send(message_id=first).result == "later"
    # then the refusal is counted with its code and nothing as sent
    assert (sends("sent"), sends("refused", "130429")) == (sent, refused + 1)
    # and the scrape shows the pace halved against the level, and the message waiting for a turn
    readings = scraped()
    assert readings[("whatsapp_send_pace_ratio", ())] == pytest.approx(0.5, abs=0.05)
    assert readings[("whatsapp_throughput_level_messages_per_second", ())] == 80
    assert readings[("whatsapp_messages_waiting", (("reason", "throughput"),))] == 1
    assert readings[("whatsapp_messages_waiting", (("reason", "pair"),))] == 0


def test_a_permanent_error_counts_as_failed_with_meta_s_code(
    standin, django_capture_on_commit_callbacks
):
    [message] = queued(["15553000003"], standin, django_capture_on_commit_callbacks)
    standin.add_fault(code=131026, nth=1)  # the recipient cannot receive it
    failed = sends("failed", "131026")
    assert message_send(message_id=message).result == "failed"
    assert sends("failed", "131026") == failed + 1


def test_a_send_that_goes_out_counts_as_sent(standin, django_capture_on_commit_callbacks):
    [message] = queued(["15553000004"], standin, django_capture_on_commit_callbacks)
    sent = sends("sent")
    assert message_send(message_id=message).result == "sent"
    assert sends("sent") == sent + 1
    assert scraped()[("whatsapp_send_pace_ratio", ())] == 1
