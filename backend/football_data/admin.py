from django.contrib import admin

from football_data.models import (
    Competition,
    Match,
    MatchOdds,
    Payout,
    Selection,
    Team,
    Ticket,
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


class SelectionInline(admin.TabularInline):
    model = Selection
    extra = 0
    raw_id_fields = ("match",)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("pk", "reference", "stake", "status", "payout", "created_at", "settled_at")
    list_filter = ("status",)
    search_fields = ("reference",)
    inlines = (SelectionInline,)
    # Settlement owns these; editing them by hand would bypass the payout guard.
    readonly_fields = ("status", "payout", "settled_at")


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ("ticket", "amount", "created_at")
    raw_id_fields = ("ticket",)
