"""WhatsApp rows. They, not the broker, say what was sent: tasks are only wake-up calls."""

from __future__ import annotations

from django.db import models


class Contact(models.Model):
    """A WhatsApp user, keyed by wa_id (E.164 digits without '+')."""

    wa_id = models.CharField(max_length=32, unique=True)
    profile_name = models.CharField(max_length=255, blank=True)
    # The contact's last message to us, by the webhook's timestamp: it opens Meta's 24-hour
    # window (whatsapp.window).
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # When a business-initiated message to the contact last counted against Meta's messaging
    # limit (whatsapp.services.messaging_limit).
    limit_counted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.profile_name} ({self.wa_id})" if self.profile_name else self.wa_id


class OutboundStatus(models.TextChoices):
    QUEUED = "queued"
    # Past Meta's messaging limit: goes when the count allows (services.messaging_limit).
    HELD = "held"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class WaitingFor(models.TextChoices):
    """Why a queued message is due later than its part spacing alone would make it."""

    NOTHING = "", "nothing"
    THROUGHPUT = "throughput", "its turn at the number's throughput level"
    PAIR = "pair", "the pair rule: the time the contact's last burst borrowed"
    WORKER = "worker", "a worker-io process free to carry its reply's burst"
    MESSAGING_LIMIT = "messaging_limit", "a free place under the messaging limit"
    LIMIT_REFUSED = "limit_refused", "Meta refused it for the messaging limit (131048)"


# Statuses after which a message no longer holds back the next one to the same contact.
FINAL_STATUSES = (
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.READ,
    OutboundStatus.FAILED,
)
PENDING_STATUSES = (OutboundStatus.QUEUED, OutboundStatus.SENDING)
ACCEPTED_STATUSES = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.READ)


class OutboundMessage(models.Model):
    """One message to one contact, a text or an approved template; a multi-part reply is a batch
    of these."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="outbound")
    # The text as the contact reads it: a template's body with its parameters filled in.
    body = models.TextField()
    # A template message (whatsapp.message_templates) is sent by these, not by ``body``; a text
    # leaves them empty. Meta allows template names of up to 512 characters.
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=16, blank=True)
    template_params = models.JSONField(default=list, blank=True)
    batch = models.UUIDField(db_index=True)
    position = models.PositiveIntegerField(default=0)
    batch_size = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED
    )
    wamid = models.CharField(max_length=128, null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error_code = models.IntegerField(null=True, blank=True)
    last_error_text = models.TextField(blank=True)
    # When the part is due (creation + position x spacing) ...
    scheduled_at = models.DateTimeField()
    # ... and when the next wake-up is due (later after a retry or while waiting for the part
    # before it). The sweeper re-enqueues queued rows whose wake-up is overdue.
    next_attempt_at = models.DateTimeField()
    waiting_for = models.CharField(
        max_length=16, choices=WaitingFor.choices, default=WaitingFor.NOTHING, blank=True
    )
    # The contact's burst under Meta's pair rule once this message was accepted (whatsapp.pair);
    # the contact's state is its message with the latest ``pair_free_at``.
    pair_burst_start = models.DateTimeField(null=True, blank=True)
    pair_burst_count = models.PositiveIntegerField(null=True, blank=True)
    pair_free_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="whatsapp_batch_position"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="whatsapp_out_status_due"),
            models.Index(fields=["contact", "status"], name="whatsapp_out_contact_status"),
            models.Index(fields=["contact", "pair_free_at"], name="whatsapp_out_contact_pair"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.contact_id} part {self.position + 1}/{self.batch_size}"


class WebhookEvent(models.Model):
    """A webhook POST exactly as received (signature checked), kept for audit and replay."""

    body = models.TextField()
    body_sha256 = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True)
    # Errors Meta reported in the body itself (``entry[].changes[].value.errors[]``), as sent;
    # filled in by processing.
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["processed_at", "received_at"], name="whatsapp_event_todo")]

    def __str__(self) -> str:
        return f"event #{self.pk} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class InboundMessage(models.Model):
    """A message a contact sent us; wamid dedupes Meta's redeliveries."""

    wamid = models.CharField(max_length=128, unique=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="inbound")
    type = models.CharField(max_length=32)
    text = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    event = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} from {self.contact_id}: {self.text[:40]}"


class StatusEvent(models.Model):
    """One status webhook for one of our messages; (wamid, status) dedupes redeliveries."""

    wamid = models.CharField(max_length=128)
    status = models.CharField(max_length=16)
    occurred_at = models.DateTimeField(null=True, blank=True)
    recipient_id = models.CharField(max_length=32, blank=True)
    errors = models.JSONField(default=list, blank=True)
    payload = models.JSONField()
    message = models.ForeignKey(
        OutboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="status_events",
    )
    event = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wamid", "status"], name="whatsapp_status_once"),
        ]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class Payment(models.Model):
    """A payment a contact owes by a date: what the daily reminder (services.reminders) reads.
    The example of business-initiated work; in your project, your own model takes its place."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="payments")
    # As the contact reads it, currency included: "€12.50".
    amount = models.CharField(max_length=32)
    due_on = models.DateField()
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["due_on", "contact"], name="whatsapp_payment_due")]

    def __str__(self) -> str:
        return f"{self.amount} due {self.due_on} from {self.contact_id}"


class PaymentReminder(models.Model):
    """One day's reminder to one contact, stored with its message in one transaction: the unique
    (contact, day) makes it once a day however often the run is repeated or cut short."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="payment_reminders")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="reminders")
    day = models.DateField()
    message = models.OneToOneField(
        OutboundMessage, on_delete=models.PROTECT, related_name="payment_reminder"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "day"], name="whatsapp_reminder_once_a_day")
        ]

    def __str__(self) -> str:
        return f"reminder of {self.payment_id} on {self.day}"
