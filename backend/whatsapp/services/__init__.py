"""WhatsApp writes, one module per job: ``sending`` (with its SQL in ``claim``), ``statuses``,
``waking`` (the next message to a contact), ``messaging_limit``, ``webhooks``, ``recovery``,
``reminders``.

Callers import from here. None of these modules imports ``whatsapp.tasks``: they enqueue by
task name through ``whatsapp.dispatch``.
"""

from whatsapp.services.messaging_limit import held_release, limit_count
from whatsapp.services.recovery import message_sweep, webhook_event_sweep
from whatsapp.services.reminders import payment_reminders_send
from whatsapp.services.sending import (
    SEND_TASK_TIME_LIMIT_SECONDS,
    SEND_TIME_LIMIT_SECONDS,
    Notification,
    SendOutcome,
    contact_get_or_create,
    message_requeue,
    message_send,
    message_send_carrying,
    notification_check,
    notification_send,
    notifications_send,
    template_send,
    text_send_staggered,
)
from whatsapp.services.statuses import message_status_apply
from whatsapp.services.waking import send_countdown
from whatsapp.services.webhooks import (
    inbound_message_record,
    status_event_record,
    webhook_event_process,
    webhook_event_reprocess,
    webhook_event_store,
)

__all__ = [
    "SEND_TASK_TIME_LIMIT_SECONDS",
    "SEND_TIME_LIMIT_SECONDS",
    "Notification",
    "SendOutcome",
    "contact_get_or_create",
    "held_release",
    "inbound_message_record",
    "limit_count",
    "message_requeue",
    "message_send",
    "message_send_carrying",
    "message_status_apply",
    "message_sweep",
    "notification_check",
    "notification_send",
    "notifications_send",
    "payment_reminders_send",
    "send_countdown",
    "status_event_record",
    "template_send",
    "text_send_staggered",
    "webhook_event_process",
    "webhook_event_reprocess",
    "webhook_event_store",
    "webhook_event_sweep",
]

# This package's modules in layers, top to bottom: a module imports only from the layers below
# its own; `|` separates modules of one layer that import neither each other
# (scripts/import_contracts.py checks it).
LAYERS = (
    "webhooks | recovery | reminders",
    "sending",
    "statuses | messaging_limit",
    "waking",
    "claim | errors",
)
