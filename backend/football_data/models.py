"""Competitions, teams and matches from football-data.org, and a small betting domain on them."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class MatchStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    TIMED = "TIMED"
    IN_PLAY = "IN_PLAY"
    PAUSED = "PAUSED"
    EXTRA_TIME = "EXTRA_TIME"
    PENALTY_SHOOTOUT = "PENALTY_SHOOTOUT"
    FINISHED = "FINISHED"
    SUSPENDED = "SUSPENDED"
    POSTPONED = "POSTPONED"
    CANCELLED = "CANCELLED"
    AWARDED = "AWARDED"


class Duration(models.TextChoices):
    REGULAR = "REGULAR"
    EXTRA_TIME = "EXTRA_TIME"
    PENALTY_SHOOTOUT = "PENALTY_SHOOTOUT"


class Competition(models.Model):
    provider_id = models.PositiveIntegerField(unique=True)
    code = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=128)
    emblem = models.URLField(blank=True)

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    provider_id = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=128)
    short_name = models.CharField(max_length=64, blank=True)
    tla = models.CharField(max_length=8, blank=True)
    crest = models.URLField(blank=True)

    def __str__(self) -> str:
        return self.short_name or self.name


class Match(models.Model):
    """One match as the provider last reported it; scores are null until known."""

    provider_id = models.PositiveIntegerField(unique=True)
    competition = models.ForeignKey(Competition, on_delete=models.PROTECT, related_name="matches")
    home_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    away_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    utc_date = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=20, choices=MatchStatus.choices, db_index=True)
    matchday = models.PositiveSmallIntegerField(null=True, blank=True)
    stage = models.CharField(max_length=32, blank=True)
    duration = models.CharField(max_length=20, choices=Duration.choices, default=Duration.REGULAR)
    # fullTime includes extra-time and shoot-out goals; 90-minute markets use regular time.
    full_time_home = models.PositiveSmallIntegerField(null=True, blank=True)
    full_time_away = models.PositiveSmallIntegerField(null=True, blank=True)
    half_time_home = models.PositiveSmallIntegerField(null=True, blank=True)
    half_time_away = models.PositiveSmallIntegerField(null=True, blank=True)
    regular_time_home = models.PositiveSmallIntegerField(null=True, blank=True)
    regular_time_away = models.PositiveSmallIntegerField(null=True, blank=True)
    extra_time_home = models.PositiveSmallIntegerField(null=True, blank=True)
    extra_time_away = models.PositiveSmallIntegerField(null=True, blank=True)
    penalties_home = models.PositiveSmallIntegerField(null=True, blank=True)
    penalties_away = models.PositiveSmallIntegerField(null=True, blank=True)
    last_updated = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "matches"
        ordering = ("utc_date", "provider_id")

    def __str__(self) -> str:
        return f"{self.home_team} v {self.away_team} ({self.utc_date:%Y-%m-%d})"


class MatchOdds(models.Model):
    """1X2 decimal prices from one bookmaker (optional import, The Odds API v4 shape)."""

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="odds")
    bookmaker = models.CharField(max_length=64)
    home = models.DecimalField(max_digits=8, decimal_places=3)
    draw = models.DecimalField(max_digits=8, decimal_places=3)
    away = models.DecimalField(max_digits=8, decimal_places=3)
    last_update = models.DateTimeField()

    class Meta:
        verbose_name_plural = "match odds"
        constraints = [
            models.UniqueConstraint(fields=["match", "bookmaker"], name="odds_one_per_bookmaker")
        ]

    def __str__(self) -> str:
        return f"{self.match_id} {self.bookmaker}: {self.home}/{self.draw}/{self.away}"


class TicketStatus(models.TextChoices):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    VOID = "void"


class Pick(models.TextChoices):
    HOME = "1", "Home"
    DRAW = "X", "Draw"
    AWAY = "2", "Away"


class SelectionResult(models.TextChoices):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    VOID = "void"


class Ticket(models.Model):
    """A single bet or an accumulator: one stake on one or more selections."""

    reference = models.CharField(max_length=64, blank=True)
    stake = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(
        max_length=8, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True
    )
    payout = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # The claim: when a settlement chunk was last enqueued for this open ticket; cleared by the
    # chunk that looked at it. Still set long after means the chunk was lost (worker killed).
    settle_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(stake__gt=Decimal(0)), name="stake_positive"),
        ]
        indexes = [
            models.Index(
                fields=["settle_queued_at"],
                condition=models.Q(status="open", settle_queued_at__isnull=False),
                name="ticket_settle_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"Ticket {self.pk} ({self.status})"


class Selection(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="selections")
    match = models.ForeignKey(Match, on_delete=models.PROTECT, related_name="selections")
    pick = models.CharField(max_length=1, choices=Pick.choices)
    odds = models.DecimalField(max_digits=8, decimal_places=3)
    result = models.CharField(
        max_length=8, choices=SelectionResult.choices, default=SelectionResult.OPEN
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "match"], name="one_selection_per_match"),
            models.CheckConstraint(condition=models.Q(odds__gt=Decimal(1)), name="odds_above_one"),
        ]

    def __str__(self) -> str:
        return f"{self.match} {self.pick} @ {self.odds}"


class Payout(models.Model):
    """The money owed for a settled ticket. One per ticket at most: the database refuses a
    second one, so settling twice can never pay twice."""

    ticket = models.OneToOneField(Ticket, on_delete=models.PROTECT, related_name="payout_record")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.amount} for ticket {self.ticket_id}"
