"""Sending: split a text into staggered parts, queue a template, and the claim-and-send step for
one message.

A task is only a wake-up call; the row decides whether, when and in which order it is sent
(docs/whatsapp.md, "Rows are the source of truth").
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ops.db import connection_release, until_database_answers
from whatsapp import carry, dispatch, pacing, selectors
from whatsapp.client import (
    SentMessage,
    WhatsAppAuthError,
    WhatsAppError,
    WhatsAppMessagingLimitError,
    WhatsAppPairRateLimitError,
    WhatsAppThroughputError,
    WhatsAppTransientError,
    get_client,
)
from whatsapp.message_templates import TemplateMessage
from whatsapp.metrics import send_counted
from whatsapp.models import Contact, OutboundMessage, OutboundStatus, WaitingFor
from whatsapp.pair import PairRule, PairState, first_burst, pair_rule
from whatsapp.services import claim
from whatsapp.services.messaging_limit import limit_admit, message_hold
from whatsapp.services.statuses import CALLBACK_PREFIX, status_events_replay
from whatsapp.services.waking import (
    NextDue,
    max_countdown,
    message_wake,
    message_wake_next,
    send_countdown,
)
from whatsapp.validation import WindowClosed, recipient_normalize, template_text, text_parts
from whatsapp.window import WINDOW_CLOSED_CODE, window_closed_text, window_is_open

logger = logging.getLogger(__name__)

# One send's bound, above the client's (connect, read) timeouts: its record waits for the
# database until shortly before it.
SEND_TIME_LIMIT_SECONDS = 15
# A send task starts the next part of the burst it carries (whatsapp.carry) for this long.
CARRY_SECONDS = 6.0
# The send task's hard time limit: the last part it starts, and that part's send. A row still
# `sending` after it has no live task any more, and the sweeper may send it again.
SEND_TASK_TIME_LIMIT_SECONDS = SEND_TIME_LIMIT_SECONDS + int(CARRY_SECONDS)
# A reply that finds every burst slot of its process busy asks again when the first should free
# up, plus up to this much (spreading the replies that wait).
SLOT_WAIT_SPREAD_SECONDS = 0.5
# Recording an accepted send waits for the database until this long before that limit.
RECORD_MARGIN_SECONDS = 2
TRANSIENT_BACKOFF_BASE_SECONDS = 2.0
TRANSIENT_BACKOFF_MAX_SECONDS = 300.0
SPACING_TOLERANCE = 0.1
# A notification goes as a text only while the window stays open this much longer: a text
# queued in its last moments could be claimed after it closed, and fail.
NOTIFICATION_WINDOW_MARGIN = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Carried:
    """The next message of a burst that the sending task sends itself, at ``at``."""

    id: int
    at: dt.datetime


@dataclass(frozen=True)
class SendOutcome:
    """What one wake-up did: ``sent``, ``failed``, ``skipped`` (nothing to do), ``later`` (try
    again in ``retry_in`` s), ``waiting`` (an earlier message goes first and wakes this one) or
    ``held`` (past the messaging limit: queued again when the count allows).
    ``carry``: after a send, the message the caller sends next (no wake-up was enqueued)."""

    result: str
    retry_in: float | None = None
    carry: Carried | None = None


def contact_get_or_create(*, wa_id: str, profile_name: str = "") -> Contact:
    contact, created = Contact.objects.get_or_create(
        wa_id=wa_id, defaults={"profile_name": profile_name}
    )
    if not created and profile_name and contact.profile_name != profile_name:
        Contact.objects.filter(pk=contact.pk).update(
            profile_name=profile_name, updated_at=timezone.now()
        )
        contact.profile_name = profile_name
    return contact


def text_send_staggered(*, to: str, text: str) -> list[int]:
    """Queue ``text`` to ``to`` (wa_id, E.164 digits) as parts of at most 4096 characters.

    ``to`` may start with '+' and hold spaces or hyphens; a bad number, an empty text, one
    needing more than WHATSAPP_TEXT_MAX_PARTS parts, or a contact whose 24-hour window is closed
    (``WindowClosed``: send a template) raises ``whatsapp.validation.OutboundInvalid`` (a
    ValueError) before anything is stored. A part still queued when the window closes fails
    without an API call. All rows are created in one transaction, part N due
    N x WHATSAPP_PART_SPACING_SECONDS after the first; after it commits, the first part is
    enqueued. Each part, once final, wakes the next at its due time (``message_wake_next``), so
    a reply costs one wake-up per part, however long. Returns the OutboundMessage ids in order.
    """
    return _messages_queue(wa_id=recipient_normalize(to), bodies=text_parts(text), text=True)


def template_send(*, to: str, name: str, language: str, params: Sequence[str]) -> int:
    """Queue the approved template ``name`` in ``language`` to ``to``, its placeholders filled
    with ``params`` in order: one message, queued and sent like a one-part reply. Returns its
    OutboundMessage id.

    The template must be in ``whatsapp.message_templates.TEMPLATES``. A bad number, an unknown
    template or language, a wrong parameter count or an empty parameter raises
    ``whatsapp.validation.OutboundInvalid`` (a ValueError) before anything is stored. The row
    keeps the template, its language and parameters (what is sent) and, as ``body``, the text
    with them filled in (what the contact reads).
    """
    wa_id = recipient_normalize(to)
    text = template_text(name=name, language=language, params=params)
    template = TemplateMessage(name=name, language=language, params=tuple(params))
    [message_id] = _messages_queue(wa_id=wa_id, bodies=[text], template=template)
    return message_id


@dataclass(frozen=True)
class Notification:
    """A notification for ``notifications_send``: to whom, the approved template that says it,
    and the text to send instead while the window is open (the template's own words if None)."""

    to: str
    template: TemplateMessage
    text: str | None = None


def notification_send(*, to: str, template: TemplateMessage, text: str | None = None) -> list[int]:
    """Queue a notification the way it can go, and return its OutboundMessage ids: as ``text``
    (the template's own words by default) while the contact's 24-hour window stays open for
    NOTIFICATION_WINDOW_MARGIN more, else as the approved ``template``, which goes either way
    and counts against the messaging limit outside the window.

    The one place that decides between the two: a reminder, a booking confirmed, a payment
    received. The template is checked (``TemplateInvalid``) even when the text goes, so a bad
    one fails here, at once, whatever the window."""
    [ids] = notifications_send([Notification(to, template, text)])
    return ids


def notifications_send(notifications: Sequence[Notification]) -> list[list[int]]:
    """``notification_send`` for many, in one transaction; each one's ids, in order.

    Every notification is checked before anything is stored (``OutboundInvalid``). A contact
    with nothing pending and no pair-rule time borrowed gets its one-part message in one bulk
    insert with the others, due now; the rest are planned one by one like any reply."""
    checked = [
        (
            recipient_normalize(n.to),
            n,
            template_text(
                name=n.template.name, language=n.template.language, params=n.template.params
            ),
        )
        for n in notifications
    ]
    results: list[list[int]] = []
    bulk: list[tuple[int, OutboundMessage]] = []
    planned: list[tuple[int, str, list[str], TemplateMessage | None, bool]] = []
    with transaction.atomic():
        now = timezone.now()
        contacts = _contacts_get_or_create([wa_id for wa_id, _, _ in checked])
        busy = selectors.contacts_busy(contact_ids=[c.pk for c in contacts.values()], now=now)
        for index, (wa_id, notification, words) in enumerate(checked):
            results.append([])
            contact = contacts[wa_id]
            as_text = window_is_open(contact.last_inbound_at, now + NOTIFICATION_WINDOW_MARGIN)
            bodies = text_parts(notification.text or words) if as_text else [words]
            template = None if as_text else notification.template
            if contact.pk in busy or len(bodies) > 1:
                planned.append((index, wa_id, bodies, template, as_text))
                continue
            # Taken: a second notification to the contact in this batch is planned after it.
            busy.add(contact.pk)
            row = OutboundMessage(
                contact=contact,
                body=bodies[0],
                batch=uuid.uuid4(),
                scheduled_at=now,
                next_attempt_at=now,
                **_sent_as(template),
            )
            bulk.append((index, row))
        created = OutboundMessage.objects.bulk_create([row for _, row in bulk], batch_size=500)
        for (index, _), row in zip(bulk, created, strict=True):
            results[index] = [row.pk]
            dispatch.message_send_on_commit(message_id=row.pk)
        # After the bulk rows: each is planned behind what is pending for its contact, those
        # included, and gets a larger id, so it goes after them.
        for index, wa_id, bodies, template, as_text in planned:
            results[index] = _messages_queue(
                wa_id=wa_id, bodies=bodies, template=template, text=as_text
            )
    return results


def notification_check(notification: Notification) -> None:
    """Raise ``OutboundInvalid`` if ``notifications_send`` would refuse the notification."""
    recipient_normalize(notification.to)
    _words(notification.template)


def _words(template: TemplateMessage) -> str:
    return template_text(name=template.name, language=template.language, params=template.params)


def _contacts_get_or_create(wa_ids: list[str]) -> dict[str, Contact]:
    contacts = {c.wa_id: c for c in Contact.objects.filter(wa_id__in=wa_ids)}
    missing = [Contact(wa_id=wa_id) for wa_id in dict.fromkeys(wa_ids) if wa_id not in contacts]
    if missing:
        Contact.objects.bulk_create(missing, ignore_conflicts=True)
        new = Contact.objects.filter(wa_id__in=[c.wa_id for c in missing])
        contacts.update({c.wa_id: c for c in new})
    return contacts


def _sent_as(template: TemplateMessage | None) -> dict[str, object]:
    """A row's template fields: what it sends instead of its body, if it is a template."""
    if template is None:
        return {}
    return {
        "template_name": template.name,
        "template_language": template.language,
        "template_params": list(template.params),
    }


def _messages_queue(
    *, wa_id: str, bodies: list[str], template: TemplateMessage | None = None, text: bool = False
) -> list[int]:
    """One row per body, in one transaction, each due when the part spacing and the pair rule
    allow; the first is enqueued after commit. A ``text`` needs the contact's window open."""
    sent_as = _sent_as(template)
    spacing = dt.timedelta(seconds=settings.WHATSAPP_PART_SPACING_SECONDS)
    rule = pair_rule()
    batch = uuid.uuid4()
    with transaction.atomic():
        contact = contact_get_or_create(wa_id=wa_id)
        now = timezone.now()
        if text and not window_is_open(contact.last_inbound_at, now):
            raise WindowClosed(window_closed_text(wa_id, contact.last_inbound_at))
        state, start = _contact_plan_start(
            contact_id=contact.pk, rule=rule, now=now, spacing=spacing
        )
        planned = rule.plan(state, start=start, parts=len(bodies), spacing=spacing)
        rows = [
            OutboundMessage(
                contact=contact,
                body=body,
                batch=batch,
                position=position,
                batch_size=len(bodies),
                scheduled_at=due,
                next_attempt_at=due,
                waiting_for=WaitingFor.PAIR if held_back else WaitingFor.NOTHING,
                **sent_as,
            )
            for position, (body, (due, held_back)) in enumerate(zip(bodies, planned, strict=True))
        ]
        created = OutboundMessage.objects.bulk_create(rows)
        ids = [row.pk for row in created]
        # If an earlier reply to this contact is still going out, this one waits for its turn.
        dispatch.message_send_on_commit(message_id=ids[0])
    return ids


def _contact_plan_start(
    *, contact_id: int, rule: PairRule, now: dt.datetime, spacing: dt.timedelta
) -> tuple[PairState | None, dt.datetime]:
    """The contact's pair state once the messages still pending for it have gone, each at its
    due time (or now, if overdue), and when a new reply may start: now, or one spacing after the
    last of them."""
    state = selectors.contact_pair_state(contact_id=contact_id)
    start = now
    for due in selectors.contact_pending_due(contact_id=contact_id):
        at = rule.earliest(state, max(due, start))
        state = rule.after(state, requested_at=at, answered_at=at)
        start = at + spacing
    return state, start


def _postpone(message_id: int, seconds: float) -> SendOutcome:
    OutboundMessage.objects.filter(pk=message_id, status=OutboundStatus.QUEUED).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=seconds)
    )
    return SendOutcome("later", seconds)


def _transient_backoff(attempts: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    ceiling = min(
        TRANSIENT_BACKOFF_MAX_SECONDS,
        max_countdown(),
        TRANSIENT_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not security)


def message_send_carrying(*, message_id: int) -> SendOutcome:
    """``message_send``; when it opens a contact's burst, the burst's next messages follow from
    here, each at its time, while the burst and CARRY_SECONDS allow (``whatsapp.carry``).

    Returns the first message's outcome. A carried message not sent gets a wake-up of its own:
    at its time when it must wait, soon when the carrying failed."""
    with carry.Burst(until=time.monotonic() + CARRY_SECONDS) as burst:
        first = outcome = message_send(message_id=message_id, burst=burst)
        while outcome.carry is not None:
            carried = outcome.carry
            time.sleep(max(0.0, (carried.at - timezone.now()).total_seconds()))
            try:
                outcome = message_send(message_id=carried.id, burst=burst)
            except BaseException:
                # A wake-up of its own finds the row as this left it (failed, sending or queued).
                dispatch.message_send_on_commit(message_id=carried.id, countdown=1.0)
                raise
            if outcome.result == "later" and outcome.retry_in is not None:
                dispatch.message_send_on_commit(
                    message_id=carried.id, countdown=send_countdown(outcome.retry_in)
                )
    return first


def message_send(*, message_id: int, burst: carry.Burst | None = None) -> SendOutcome:
    """Send one queued message, at most once per claim (see docs/whatsapp.md).

    Returns ``later`` (with seconds) when it is not yet due, when the contact's last message went
    out less than the part spacing ago, when the number's next throughput turn is more than
    ``pacing.TURN_WAIT_MAX`` away, or after a retryable error; ``waiting`` when an earlier
    message to the same contact is still pending (it wakes this one). Raises
    ``WhatsAppAuthError`` after marking the message failed: a bad token needs an operator, so it
    must be loud. A send that goes out costs two statements: the claim and the record.

    ``burst``: the caller carries the contact's burst (``message_send_carrying``). A message
    opening one, with more of its reply to follow, needs one of the process's slots (else it is
    ``later``, waiting for a worker); once sent, the next message of the open burst is left to
    the caller (``SendOutcome.carry``) instead of a wake-up.
    """
    started = time.monotonic()
    now = timezone.now()
    spacing = settings.WHATSAPP_PART_SPACING_SECONDS
    # A few percent short is scheduling jitter between two on-time parts, not a burst.
    claimed = claim.message_claim(
        message_id=message_id, now=now, spacing=spacing * (1 - SPACING_TOLERANCE)
    )
    if claimed is None:
        return _not_claimed(message_id=message_id, now=now, spacing=spacing)
    message = claimed.as_message()
    if claimed.template is None and not window_is_open(claimed.last_inbound_at, now):
        # Meta would refuse it (131047), and so would every part after it.
        text = window_closed_text(claimed.wa_id, claimed.last_inbound_at)
        message_fail(message=message, code=WINDOW_CLOSED_CODE, text=text)
        message_wake_next(message)
        return SendOutcome("failed")
    # A template that may reach Meta after the window closed counts, as Meta would count it.
    reaches_by = now + dt.timedelta(seconds=SEND_TIME_LIMIT_SECONDS)
    business_initiated = claimed.template is not None and not window_is_open(
        claimed.last_inbound_at, reaches_by
    )
    if business_initiated and not limit_admit(
        message=message, contact_id=claimed.contact_id, now=now
    ):
        return SendOutcome("held")
    rule = pair_rule()
    free_in = (rule.earliest(claimed.pair, now) - now).total_seconds()
    if free_in > 0:
        # The contact's last burst borrowed this time (a plan overtaken by a late part).
        _message_release(message=message, delay=free_in, waiting_for=WaitingFor.PAIR)
        return SendOutcome("later", free_in)
    # Joining the contact's open burst: the throughput turn must come before its window closes.
    window_end = rule.window_end(claimed.pair, now)
    step = dt.timedelta(seconds=spacing if burst is None else burst.step(spacing))
    if (
        claimed.pair is not None
        and window_end is not None
        and claimed.position == 0
        and claimed.batch_size > 1
        and not rule.fits(claimed.pair, now, parts=claimed.batch_size, step=step)
    ):
        # Another reply's burst is open and cannot hold this one whole: this one opens the next.
        delay = (claimed.pair.free_at - now).total_seconds()
        _message_release(message=message, delay=delay, waiting_for=WaitingFor.PAIR)
        return SendOutcome("later", delay)
    if burst is not None and window_end is None and claimed.position + 1 < claimed.batch_size:
        # Opening a burst that more of this reply will join: this process carries it, as much
        # of the reply as fits the window at the pace parts really go here.
        target = first_burst(claimed.batch_size - claimed.position, rule.per_burst(step))
        if not burst.open(target=target, step=step.total_seconds()):
            delay = burst.free_in() + random.uniform(0, SLOT_WAIT_SPREAD_SECONDS)  # noqa: S311
            _message_release(message=message, delay=delay, waiting_for=WaitingFor.WORKER)
            return SendOutcome("later", delay)
    within = pacing.TURN_WAIT_MAX if window_end is None else (window_end - now).total_seconds()
    turn = pacing.turn_take(within=within)
    if turn.retry_in is not None:
        waiting_for, delay = WaitingFor.THROUGHPUT, turn.retry_in
        if (
            claimed.pair is not None
            and window_end is not None
            and turn.free_in is not None
            and turn.free_in <= pacing.TURN_WAIT_MAX
        ):
            # A turn was near, but after the window: the message opens the contact's next burst.
            waiting_for = WaitingFor.PAIR
            delay = max(turn.free_in, (claimed.pair.free_at - now).total_seconds())
        _message_release(message=message, delay=delay, waiting_for=waiting_for)
        return SendOutcome("later", delay)

    connection_release()
    if turn.sleep:
        time.sleep(turn.sleep)
    request_at, requested = timezone.now(), time.monotonic()
    try:
        sent = _message_post(claimed)
    except WhatsAppAuthError as exc:
        message_fail(message=message, code=exc.code, text=str(exc))
        raise
    except WhatsAppMessagingLimitError as exc:
        if claimed.attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
            message_fail(
                message=message, code=exc.code, text=f"gave up after {claimed.attempts}: {exc}"
            )
            message_wake_next(message)
            return SendOutcome("failed")
        if claimed.template is None or claimed.batch_size > 1:
            # A part of a reply: held, the parts after it would overtake it. It waits queued.
            delay = _transient_backoff(claimed.attempts)
            _message_release(message=message, delay=delay, code=exc.code, text=str(exc))
            return SendOutcome("later", delay)
        # Meta refused this message, not its pace: the attempt counts.
        message_hold(
            message=message,
            until=timezone.now()
            + dt.timedelta(seconds=settings.WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS),
            waiting_for=WaitingFor.LIMIT_REFUSED,
            reason=f"Meta refused a message for the messaging limit: {exc}",
            code=exc.code,
            attempt_counts=True,
        )
        return SendOutcome("held")
    except WhatsAppThroughputError as exc:
        # Over the number's level (or during its upgrade): not this message's fault, so it costs
        # no attempt; every sender slows down, and this one takes a new turn.
        pacing.refused_for_pace()
        delay = pacing.REFUSED_PAUSE_SECONDS
        _message_release(
            message=message,
            delay=delay,
            code=exc.code,
            text=str(exc),
            waiting_for=WaitingFor.THROUGHPUT,
        )
        logger.warning("message %s: %s; the number slows down", claimed.id, exc)
        return SendOutcome("later", delay)
    except WhatsAppTransientError as exc:
        attempts = claimed.attempts
        if attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
            message_fail(
                message=message, code=exc.code, text=f"gave up after {attempts} attempts: {exc}"
            )
            message_wake_next(message)
            return SendOutcome("failed")
        if isinstance(exc, WhatsAppPairRateLimitError):
            # Meta counts more for the pair than we do: the contact is taken as busy for one
            # more interval, and this message (and the ones after it) goes then.
            refused_now = timezone.now()
            busy = rule.refused(claimed.pair, at=refused_now)
            delay = (busy.free_at - refused_now).total_seconds()
            _message_release(
                message=message,
                delay=delay,
                code=exc.code,
                text=str(exc),
                waiting_for=WaitingFor.PAIR,
                attempt_counts=True,
                pair=busy,
            )
        else:
            delay = _transient_backoff(attempts)
            _message_release(message=message, delay=delay, code=exc.code, text=str(exc))
        logger.warning("message %s: %s; retrying in %.1fs", claimed.id, exc, delay)
        return SendOutcome("later", delay)
    except WhatsAppError as exc:
        message_fail(message=message, code=exc.code, text=str(exc))
        message_wake_next(message)
        return SendOutcome("failed")

    # The API took it: a row left `sending` would be sent again by the sweeper, so a database
    # restart right now is waited out (within the task's time limit).
    pair = rule.after(claimed.pair, requested_at=request_at, answered_at=timezone.now())
    spaced = request_at + dt.timedelta(seconds=spacing)
    next_due = rule.earliest(pair, spaced)
    carrying = False
    if burst is not None and burst.target:
        more = burst.sent_one(requested)
        own = burst.own_step(spacing)
        pace = None if own is None else dt.timedelta(seconds=own)
        if more and (
            pace is None
            or rule.fits(pair, request_at + pace, parts=burst.target - burst.sent, step=pace)
        ):
            carrying = burst.held and next_due == spaced and requested + spacing < burst.until
        else:
            # The burst sent what it can hold of the reply: as planned, or (too slow to hold the
            # rest) fewer, which tells the process to carry fewer bursts at once.
            burst.end(held=not more)
            if claimed.position + 1 < claimed.batch_size:
                next_due = max(spaced, pair.free_at)  # the reply's next part opens the next
    record = partial(
        _message_sent_record,
        message=message,
        wamid=sent.wamid,
        pair=pair,
        next_due=NextDue(next_due, WaitingFor.PAIR if next_due > spaced else WaitingFor.NOTHING),
        keep_next=carrying,
    )
    if claimed.position == 0 and claimed.batch_size > 1 and request_at > claimed.scheduled_at:
        record = partial(record, first_part_late_by=request_at - claimed.scheduled_at)
    carried = until_database_answers(
        record, deadline=started + SEND_TIME_LIMIT_SECONDS - RECORD_MARGIN_SECONDS
    )
    return SendOutcome("sent", carry=carried)


def _message_post(claimed: claim.Claimed) -> SentMessage:
    """The API request a claimed message makes: its template when it has one, else its text."""
    client = get_client()
    callback_data = f"{CALLBACK_PREFIX}{claimed.id}"
    template = claimed.template
    try:
        if template is None:
            sent = client.text_send(
                to=claimed.wa_id, body=claimed.body, callback_data=callback_data
            )
        else:
            sent = client.template_send(
                to=claimed.wa_id,
                name=template.name,
                language=template.language,
                params=template.params,
                callback_data=callback_data,
            )
    except WhatsAppError as exc:
        send_counted(exc)
        raise
    send_counted()
    return sent


def _not_claimed(*, message_id: int, now: dt.datetime, spacing: float) -> SendOutcome:
    """Why the claim took nothing, read back from the row: what the wake-up does instead."""
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None or message.status != OutboundStatus.QUEUED:
        return SendOutcome("skipped")
    not_due_for = (message.next_attempt_at - now).total_seconds()
    if not_due_for > 0:
        return SendOutcome("later", not_due_for)
    if selectors.message_blocked_by_earlier(message=message):
        return SendOutcome("waiting")
    last_request_at = selectors.contact_last_request_at(contact_id=message.contact_id)
    if last_request_at is not None:
        shortfall = spacing - (now - last_request_at).total_seconds()
        if shortfall > 0:
            return _postpone(message.pk, shortfall)
    # The way cleared between the claim and this read (the earlier message just became final).
    return SendOutcome("later", 0.0)


def _message_sent_record(
    *,
    message: OutboundMessage,
    wamid: str,
    pair: PairState | None = None,
    next_due: NextDue | None = None,
    first_part_late_by: dt.timedelta | None = None,
    keep_next: bool = False,
) -> Carried | None:
    """Mark the message sent, apply statuses that came first, wake the next one; repeatable.

    ``first_part_late_by``: this is the first part of a reply and went out that late. The rest
    of the reply moves by as much: part n is due n x spacing after the first part went out, not
    after the reply was created, so a first part held up (a rush of replies, a busy worker)
    delays the whole reply instead of squeezing the gap to its second part.

    ``next_due``: when the next message to the contact may go, from this send's own moment and
    the pair state after it; it overrides the plan made when the reply was queued.

    ``keep_next``: the caller sends the next message itself; it is returned instead of woken.
    """
    if first_part_late_by is None:
        recorded = claim.message_sent_mark(
            message_id=message.pk, wamid=wamid, now=timezone.now(), pair=pair
        )
    else:
        with transaction.atomic():
            OutboundMessage.objects.filter(
                batch=message.batch, position__gt=0, status=OutboundStatus.QUEUED
            ).update(
                scheduled_at=F("scheduled_at") + first_part_late_by,
                next_attempt_at=F("next_attempt_at") + first_part_late_by,
            )
            recorded = claim.message_sent_mark(
                message_id=message.pk, wamid=wamid, now=timezone.now(), pair=pair
            )
            if recorded is None:
                # Recorded by an earlier try, which moved the reply then: not twice.
                transaction.set_rollback(True)
    if recorded is None:
        # Already final: an earlier try of this record committed, or a status webhook adopted
        # the row. What it would have found is read again.
        status_events_replay(wamid=wamid)
        message_wake_next(message)
        return None
    if recorded.statuses_waiting:
        status_events_replay(wamid=wamid)
    if recorded.following is None:
        return None
    at = message_wake(following=recorded.following, due=next_due, enqueue=not keep_next)
    return Carried(recorded.following.id, at) if keep_next else None


def _message_release(
    *,
    message: OutboundMessage,
    delay: float,
    code: int | None = None,
    text: str = "",
    waiting_for: str = "",
    attempt_counts: bool = False,
    pair: PairState | None = None,
) -> None:
    """Give a claimed message back to the queue, due again after ``delay`` seconds. A release
    for a limit (``waiting_for``) gives its attempt back unless ``attempt_counts`` (Meta refused
    the message itself), and keeps the last error when there was no new one. ``pair``: the
    contact's pair state as this refusal revealed it, kept on the row."""
    now = timezone.now()
    changes: dict[str, object] = {
        "status": OutboundStatus.QUEUED,
        # Not later than ``delay`` from when the caller measured it: its wake-up must find the
        # row due.
        "next_attempt_at": now + dt.timedelta(seconds=max(0.0, delay - 0.01)),
        "waiting_for": waiting_for,
        "updated_at": now,
    }
    if waiting_for and not attempt_counts:
        changes["attempts"] = F("attempts") - 1
    if pair is not None:
        changes.update(
            pair_burst_start=pair.burst_start,
            pair_burst_count=pair.count,
            pair_free_at=pair.free_at,
        )
    if code is not None or not waiting_for:
        changes.update(last_error_code=code, last_error_text=text)
    OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(**changes)


def message_fail(*, message: OutboundMessage, code: int | None, text: str) -> None:
    """Mark the message failed, and the rest of its batch with it.

    Why the rest too: docs/whatsapp.md, "After a permanent failure".
    """
    now = timezone.now()
    with transaction.atomic():
        OutboundMessage.objects.filter(
            pk=message.pk, status__in=(OutboundStatus.SENDING, OutboundStatus.QUEUED)
        ).update(
            status=OutboundStatus.FAILED,
            last_error_code=code,
            last_error_text=text,
            failed_at=now,
            updated_at=now,
        )
        skipped = OutboundMessage.objects.filter(
            batch=message.batch, position__gt=message.position, status=OutboundStatus.QUEUED
        ).update(
            status=OutboundStatus.FAILED,
            last_error_text=f"skipped: part {message.position + 1} of this reply failed ({code})",
            failed_at=now,
            updated_at=now,
        )
    logger.error(
        "message %s failed (%s): %s; %d later part(s) skipped", message.pk, code, text, skipped
    )


def message_requeue(*, message_id: int) -> bool:
    """Send a failed message again (admin action); True if it was failed and is queued now."""
    now = timezone.now()
    with transaction.atomic():
        requeued = OutboundMessage.objects.filter(
            pk=message_id, status=OutboundStatus.FAILED
        ).update(
            status=OutboundStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            failed_at=None,
            updated_at=now,
        )
        if requeued:
            dispatch.message_send_on_commit(message_id=message_id)
    return bool(requeued)
