from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from whatsapp import services
from whatsapp.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    Payment,
    PaymentReminder,
    StatusEvent,
    WebhookEvent,
)
from whatsapp.services.errors import graph_error_code, graph_errors


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("wa_id", "profile_name", "last_inbound_at", "limit_counted_at", "created_at")
    search_fields = ("wa_id", "profile_name")
    date_hierarchy = "created_at"


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "contact",
        "part",
        "status",
        "attempts",
        "last_error_code",
        "scheduled_at",
        "waiting_for",
        "sent_at",
        "delivered_at",
        "read_at",
    )
    list_filter = (
        "status",
        "waiting_for",
        "last_error_code",
        "template_name",
        "scheduled_at",
        "attempts",
    )
    search_fields = ("wamid", "contact__wa_id", "contact__profile_name", "body", "=batch")
    list_select_related = ("contact",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    actions = ("send_again",)

    @admin.display(description="part")
    def part(self, obj: OutboundMessage) -> str:
        return f"{obj.position + 1}/{obj.batch_size}"

    @admin.action(description="Send the selected failed messages again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        requeued = sum(services.message_requeue(message_id=m.pk) for m in queryset)
        self.message_user(request, f"{requeued} message(s) queued again.", messages.SUCCESS)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("wamid", "contact", "type", "text", "sent_at", "created_at")
    list_filter = ("type", "created_at")
    search_fields = ("wamid", "contact__wa_id", "contact__profile_name", "text")
    list_select_related = ("contact",)
    date_hierarchy = "created_at"


@admin.register(StatusEvent)
class StatusEventAdmin(admin.ModelAdmin):
    list_display = ("wamid", "status", "occurred_at", "recipient_id", "message", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("wamid", "recipient_id")
    raw_id_fields = ("message", "event")


class ProcessedFilter(admin.SimpleListFilter):
    title = "processing"
    parameter_name = "processing"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [
            ("done", "processed"),
            ("pending", "not yet"),
            ("error", "failed"),
            ("meta_errors", "with errors from Meta"),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent]
    ) -> QuerySet[WebhookEvent]:
        if self.value() == "done":
            return queryset.filter(processed_at__isnull=False)
        if self.value() == "pending":
            return queryset.filter(processed_at__isnull=True, processing_error="")
        if self.value() == "error":
            return queryset.exclude(processing_error="")
        if self.value() == "meta_errors":
            return queryset.exclude(errors=[])
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "processed_at", "processing_error", "error_codes")
    list_filter = (ProcessedFilter, "received_at")
    search_fields = ("body", "body_sha256")
    date_hierarchy = "received_at"
    readonly_fields = (
        "body",
        "body_sha256",
        "received_at",
        "processed_at",
        "processing_error",
        "errors",
    )
    actions = ("reprocess",)

    @admin.display(description="Meta error codes")
    def error_codes(self, obj: WebhookEvent) -> str:
        return ", ".join(str(graph_error_code(e)) for e in graph_errors(obj.errors))

    @admin.action(description="Process the selected events again (replay)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        for event in queryset:
            services.webhook_event_reprocess(event_id=event.pk)
        self.message_user(request, f"{queryset.count()} event(s) queued for processing.")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "contact", "amount", "due_on", "paid_at")
    list_filter = ("due_on", "paid_at")
    search_fields = ("contact__wa_id",)
    raw_id_fields = ("contact",)


@admin.register(PaymentReminder)
class PaymentReminderAdmin(admin.ModelAdmin):
    list_display = ("id", "contact", "payment", "day", "message")
    list_filter = ("day",)
    search_fields = ("contact__wa_id",)
    raw_id_fields = ("contact", "payment", "message")
