"""The WhatsApp app's series (docs/operations.md, "Metrics and alerts"): every send request by
outcome and Meta's error code, the number's level and the pace the limiter allows against it, and
the messages waiting, by what they wait for. Web's ``/metrics`` reads the last three at each
scrape (``COLLECTORS``, found by ``config.discovery``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from whatsapp import pacing
from whatsapp.client import (
    WhatsAppError,
    WhatsAppMessagingLimitError,
    WhatsAppPairRateLimitError,
    WhatsAppThroughputError,
    WhatsAppTransientError,
)
from whatsapp.models import OutboundMessage, OutboundStatus, WaitingFor

logger = logging.getLogger(__name__)

SENDS = Counter(
    "whatsapp_sends",
    "Send requests to the Cloud API by outcome (sent; refused: Meta's pace or messaging limit; "
    "retried: a transient error; failed) and Meta's error code.",
    ["outcome", "code"],
)
# Meta refusing the pace (130429), the pair rule (131056, a transient error) or the messaging
# limit (131048): the sender slows down or holds, nothing is lost, and an operator should know.
REFUSALS = (WhatsAppThroughputError, WhatsAppPairRateLimitError, WhatsAppMessagingLimitError)
# Shown at 0 from the start: increase() cannot see a series' first step, so the first refusal
# after a restart would page no one.
for _code in ("130429", "131057", "131056", "131048"):
    SENDS.labels("refused", _code)
SENDS.labels("sent", "")


def send_counted(error: WhatsAppError | None = None) -> None:
    """Count one send request: ``error`` is what the API answered, None when it took it."""
    if error is None:
        SENDS.labels("sent", "").inc()
        return
    if isinstance(error, REFUSALS):
        outcome = "refused"
    elif isinstance(error, WhatsAppTransientError):
        outcome = "retried"
    else:
        outcome = "failed"
    SENDS.labels(outcome, "" if error.code is None else str(error.code)).inc()


class WhatsAppCollector:
    def collect(self) -> Iterator[Metric]:
        level = GaugeMetricFamily(
            "whatsapp_throughput_level_messages_per_second",
            "The number's throughput level (WHATSAPP_MESSAGES_PER_SECOND).",
        )
        level.add_metric([], settings.WHATSAPP_MESSAGES_PER_SECOND)
        yield level
        try:
            pace = pacing.number_limiter().peek().pace
        except Exception as exc:
            logger.warning("metrics: the throughput limiter could not be read: %r", exc)
        else:
            family = GaugeMetricFamily(
                "whatsapp_send_pace_ratio",
                "The share of the level the limiter allows now (below 1 after Meta refused).",
            )
            family.add_metric([], pace)
            yield family
        waiting = GaugeMetricFamily(
            "whatsapp_messages_waiting",
            "Messages queued or held, by what they wait for (pair: the pair rule; "
            "messaging_limit, limit_refused: held by the messaging limit).",
            labels=["reason"],
        )
        counts = dict(
            OutboundMessage.objects.filter(status__in=(OutboundStatus.QUEUED, OutboundStatus.HELD))
            .exclude(waiting_for=WaitingFor.NOTHING)
            .values_list("waiting_for")
            .annotate(count=Count("id"))
            .order_by()
        )
        for reason in WaitingFor:
            if reason is not WaitingFor.NOTHING:
                waiting.add_metric([reason.value], counts.get(reason.value, 0))
        yield waiting


COLLECTORS = {"whatsapp": WhatsAppCollector()}
