"""The send path's two statements: claim a message that is due, next in line and spaced from the
last one to its contact; record it sent and learn, in the same statement, what comes next.

Each is one ``UPDATE … RETURNING`` (PostgreSQL, and SQLite 3.35+) so a send costs two round trips
to the database instead of seven; docs/whatsapp.md, "The send path in two statements".
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from whatsapp.message_templates import TemplateMessage
from whatsapp.models import (
    ACCEPTED_STATUSES,
    PENDING_STATUSES,
    Contact,
    OutboundMessage,
    OutboundStatus,
    StatusEvent,
)
from whatsapp.pair import PairState

# Unaliased: SQLite's RETURNING sees the updated table by its name only.
M = OutboundMessage._meta.db_table
_CONTACTS = Contact._meta.db_table
_STATUS_EVENTS = StatusEvent._meta.db_table


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


# The contact's pair-rule state: its message with the latest free time (whatsapp.pair;
# selectors.contact_pair_state reads the same for planning).
_PAIR = f"""
  FROM {M} AS p WHERE p.contact_id = {M}.contact_id AND p.pair_free_at IS NOT NULL
  ORDER BY p.pair_free_at DESC LIMIT 1)
"""

# Every condition message_send needs before a send, decided by the row itself: queued, due, no
# earlier message to the contact pending (selectors.earlier_pending), and none accepted within
# the spacing (selectors.contact_last_request_at).
_CLAIM = f"""
UPDATE {M}
SET status = '{OutboundStatus.SENDING}', claimed_at = %(now)s, attempts = {M}.attempts + 1,
    updated_at = %(now)s
WHERE {M}.id = %(id)s AND {M}.status = '{OutboundStatus.QUEUED}'
  AND {M}.next_attempt_at <= %(now)s
  AND NOT EXISTS (
    SELECT 1 FROM {M} AS e
    WHERE e.contact_id = {M}.contact_id AND e.id < {M}.id
      AND e.status IN {_in(PENDING_STATUSES)})
  AND NOT EXISTS (
    SELECT 1 FROM {M} AS s
    WHERE s.contact_id = {M}.contact_id AND s.status IN {_in(ACCEPTED_STATUSES)}
      AND s.claimed_at > %(spaced_after)s)
RETURNING {M}.contact_id, {M}.batch, {M}.position, {M}.batch_size, {M}.scheduled_at,
  {M}.attempts, {M}.body, {M}.template_name, {M}.template_language, {M}.template_params,
  (SELECT c.wa_id FROM {_CONTACTS} AS c WHERE c.id = {M}.contact_id),
  (SELECT c.last_inbound_at FROM {_CONTACTS} AS c WHERE c.id = {M}.contact_id),
  (SELECT p.pair_burst_start {_PAIR}, (SELECT p.pair_burst_count {_PAIR},
  (SELECT p.pair_free_at {_PAIR}
"""  # noqa: S608 (table names and statuses are the models', not input)

# The next queued message to the contact: the smallest id after this one
# (selectors.message_next_queued).
_NEXT = f"""
  FROM {M} AS n WHERE n.contact_id = {M}.contact_id AND n.id > {M}.id
    AND n.status = '{OutboundStatus.QUEUED}' ORDER BY n.id LIMIT 1)
"""
_RECORD = f"""
UPDATE {M}
SET status = '{OutboundStatus.SENT}', wamid = %(wamid)s, sent_at = %(now)s, updated_at = %(now)s,
    waiting_for = '', pair_burst_start = %(pair_burst_start)s,
    pair_burst_count = %(pair_burst_count)s, pair_free_at = %(pair_free_at)s
WHERE {M}.id = %(id)s AND {M}.status IN {_in(PENDING_STATUSES)}
RETURNING
  EXISTS (SELECT 1 FROM {_STATUS_EVENTS} AS s WHERE s.wamid = %(wamid)s),
  (SELECT n.id {_NEXT}, (SELECT n.scheduled_at {_NEXT}, (SELECT n.next_attempt_at {_NEXT}
"""  # noqa: S608


@dataclass(frozen=True)
class Claimed:
    """A message claimed for sending: what the request and the outcome need."""

    id: int
    contact_id: int
    batch: uuid.UUID
    position: int
    batch_size: int
    scheduled_at: dt.datetime
    attempts: int
    body: str
    # What is sent when the message is a template (else ``body``, as a text).
    template: TemplateMessage | None
    wa_id: str
    # The contact's last message to us: it opened the 24-hour window (whatsapp.window).
    last_inbound_at: dt.datetime | None
    pair: PairState | None

    def as_message(self) -> OutboundMessage:
        """The row's identity, for the services that take a message."""
        return OutboundMessage(
            pk=self.id, contact_id=self.contact_id, batch=self.batch, position=self.position
        )


@dataclass(frozen=True)
class NextQueued:
    """The next queued message to the same contact."""

    id: int
    scheduled_at: dt.datetime
    next_attempt_at: dt.datetime


@dataclass(frozen=True)
class Recorded:
    """What recording a send found: statuses that came first, and the next message."""

    statuses_waiting: bool
    following: NextQueued | None


def message_claim(*, message_id: int, now: dt.datetime, spacing: float) -> Claimed | None:
    """Claim the message for one send, or None if it is not queued, not due, behind an earlier
    message or within ``spacing`` seconds of the contact's last accepted one."""
    params = {
        "id": message_id,
        "now": _adapt(now),
        "spaced_after": _adapt(now - dt.timedelta(seconds=spacing)),
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, params)
        row = cursor.fetchone()
    if row is None:
        return None
    contact_id, batch, position, batch_size, scheduled_at, attempts, body, *rest = row
    template_name, template_language, template_params, wa_id, last_inbound_at, *pair = rest
    burst_start, burst_count, free_at = pair
    return Claimed(
        id=message_id,
        contact_id=contact_id,
        batch=batch if isinstance(batch, uuid.UUID) else uuid.UUID(batch),
        position=position,
        batch_size=batch_size,
        scheduled_at=_datetime(scheduled_at),
        attempts=attempts,
        body=body,
        template=_template(template_name, template_language, template_params),
        wa_id=wa_id,
        last_inbound_at=None if last_inbound_at is None else _datetime(last_inbound_at),
        pair=None
        if free_at is None
        else PairState(_datetime(burst_start), burst_count, _datetime(free_at)),
    )


def message_sent_mark(
    *, message_id: int, wamid: str, now: dt.datetime, pair: PairState | None
) -> Recorded | None:
    """Mark a claimed (or still queued) message sent, with the contact's pair state after it;
    None if it was final already."""
    params = {
        "id": message_id,
        "wamid": wamid,
        "now": _adapt(now),
        "pair_burst_start": None if pair is None else _adapt(pair.burst_start),
        "pair_burst_count": None if pair is None else pair.count,
        "pair_free_at": None if pair is None else _adapt(pair.free_at),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD, params)
        row = cursor.fetchone()
    if row is None:
        return None
    statuses_waiting, next_id, scheduled_at, next_attempt_at = row
    following = None
    if next_id is not None:
        following = NextQueued(next_id, _datetime(scheduled_at), _datetime(next_attempt_at))
    return Recorded(statuses_waiting=bool(statuses_waiting), following=following)


def _template(name: str, language: str, params: list[str] | str) -> TemplateMessage | None:
    if not name:
        return None
    # The drivers hand a JSON column to raw SQL as its text (Django parses it for the ORM only).
    values = json.loads(params) if isinstance(params, str) else params
    return TemplateMessage(name, language, tuple(values))


def _adapt(moment: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _datetime(value: dt.datetime | str) -> dt.datetime:
    """A timestamp as the driver returns it (SQLite: text in UTC) as an aware datetime."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"not a timestamp: {value!r}")
        value = parsed
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value
