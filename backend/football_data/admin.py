from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from football_data.models import (
    Competition,
    Match,
    MatchOdds,
    Payout,
    Selection,
    Team,
    Ticket,
    TicketStatus,
)


@admin.register(Competition)
class CompetitionAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "provider_id")
    search_fields = ("name", "code")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "short_name", "tla", "provider_id")
    search_fields = ("name", "short_name", "tla")


class MatchOddsInline(admin.TabularInline):
    model = MatchOdds
    extra = 0


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    list_display = (
        "utc_date",
        "competition",
        "home_team",
        "away_team",
        "status",
        "full_time_home",
        "full_time_away",
        "duration",
    )
    list_filter = ("status", "competition", "duration")
    search_fields = ("home_team__name", "away_team__name", "provider_id")
    date_hierarchy = "utc_date"
    list_select_related = ("competition", "home_team", "away_team")
    raw_id_fields = ("home_team", "away_team")
    inlines = (MatchOddsInline,)


def _settled(ticket: Ticket | None) -> bool:
    return ticket is not None and ticket.status != TicketStatus.OPEN


class SelectionInline(admin.TabularInline):
    """Editable while the ticket is open; once settled, its legs are the record of what was
    paid, so they can be viewed but not added, changed or deleted."""

    model = Selection
    extra = 0
    raw_id_fields = ("match",)
    # Settlement owns the result, open or not.
    readonly_fields = ("result",)

    def has_add_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return not _settled(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return not _settled(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return not _settled(obj) and super().has_delete_permission(request, obj)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("pk", "reference", "stake", "status", "payout", "created_at", "settled_at")
    list_filter = ("status",)
    search_fields = ("reference",)
    inlines = (SelectionInline,)
    # Settlement owns these; editing them by hand would bypass the payout guard.
    readonly_fields = ("status", "payout", "settled_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Ticket | None = None
    ) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        # The payout was computed from this stake.
        return (*fields, "stake") if _settled(obj) else fields

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        # A settled ticket is a record of money owed or not owed; it stays.
        return not _settled(obj) and super().has_delete_permission(request, obj)


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    """Read-only: payouts are written by settlement alone (one per ticket, in the same
    transaction as the ticket's status)."""

    list_display = ("ticket", "amount", "created_at")
    raw_id_fields = ("ticket",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Payout | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Payout | None = None) -> bool:
        return False
