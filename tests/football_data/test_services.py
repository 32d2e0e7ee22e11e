"""Services against the test database: sample payloads, syncs through the stand-in, settlement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from football_data import selectors, services, settlement
from football_data.client import FootballDataClient
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
from football_data.services import SelectionInput
from football_data.services import tickets as tickets_module
from football_data.services.tickets import _score
from tests.football_data.conftest import load_sample

pytestmark = pytest.mark.django_db

D = Decimal


def test_scheduled_sample_parses_into_timed_matches():
    # Given the recorded PL scheduled-matches response
    payload = load_sample("fd_v4_competition_PL_matches_scheduled.json")
    # When it is upserted
    written = services.matches_upsert(payload=payload)
    # Then every match is stored, timed, without a score, under the Premier League
    assert written == Match.objects.count() == 109
    assert set(Match.objects.values_list("status", flat=True)) == {"TIMED"}
    assert not Match.objects.filter(full_time_home__isnull=False).exists()
    assert Competition.objects.get().code == "PL"
    assert Team.objects.count() == 20
    everton = Match.objects.get(provider_id=538050)
    assert everton.utc_date == datetime(2026, 2, 23, 20, 0, tzinfo=UTC)
    assert (str(everton.home_team), str(everton.away_team)) == ("Everton", "Man United")


def test_mixed_sample_parses_statuses_scores_and_postponed():
    payload = load_sample("fd_v4_team_65_matches_mixed_status.json")
    services.matches_upsert(payload=payload)
    counts = {
        s: Match.objects.filter(status=s).count()
        for s in ("FINISHED", "SCHEDULED", "TIMED", "POSTPONED")
    }
    assert counts == {"FINISHED": 24, "SCHEDULED": 11, "TIMED": 10, "POSTPONED": 1}
    opener = Match.objects.get(provider_id=435943)  # Burnley 0-3 Man City
    assert (opener.full_time_home, opener.full_time_away) == (0, 3)
    assert (opener.half_time_home, opener.half_time_away) == (0, 2)
    postponed = Match.objects.get(status="POSTPONED")
    assert postponed.provider_id == 436118
    assert postponed.full_time_home is None
    # Two competitions, from each match's own competition block (no top-level one here).
    assert set(Competition.objects.values_list("code", flat=True)) == {"PL", "CL"}


def test_upsert_by_provider_id_updates_in_place():
    payload = load_sample("fd_v4_team_65_matches_mixed_status.json")
    services.matches_upsert(payload=payload)
    row = next(m for m in payload["matches"] if m["id"] == 436118)
    row["status"] = "FINISHED"
    row["score"]["fullTime"] = {"home": 1, "away": 0}
    services.matches_upsert(payload={"matches": [row]})
    assert Match.objects.count() == 46
    match = Match.objects.get(provider_id=436118)
    assert (match.status, match.full_time_home, match.full_time_away) == ("FINISHED", 1, 0)


def test_shootout_scores_are_stored_apart(football_api):
    # Given the stand-in's cup ties (some decided on penalties)
    services.results_sync(days=60, competitions=["FAC"])
    shootout = Match.objects.filter(duration="PENALTY_SHOOTOUT").first()
    assert shootout is not None
    regular, extra, penalties = (
        shootout.regular_time_home,
        shootout.extra_time_home,
        shootout.penalties_home,
    )
    assert regular is not None
    assert extra is not None
    assert penalties is not None
    assert regular == shootout.regular_time_away
    assert shootout.full_time_home == regular + extra + penalties


def test_fixtures_sync_through_the_standin(football_api):
    # Given the stand-in as the API / When fixtures are synced
    written = services.fixtures_sync(days=7)
    # Then upcoming matches are stored and the stand-in saw one authenticated request per code
    assert written > 0
    assert Match.objects.filter(utc_date__gte=timezone.now(), status="TIMED").exists()
    assert [r.path for r in football_api.requests] == ["/v4/competitions/PL/matches"]
    assert football_api.requests[0].headers["x-auth-token"] == "test-token"


def _match(status="FINISHED", home=2, away=1, *, ago=timedelta(days=3), **extra) -> Match:
    """A match that kicked off ``ago`` (by default past the 48 hours' grace of a postponement)."""
    n = Match.objects.count() + 1
    competition, _ = Competition.objects.get_or_create(provider_id=1, defaults={"name": "Test"})
    team_a, _ = Team.objects.get_or_create(provider_id=1, defaults={"name": "A"})
    team_b, _ = Team.objects.get_or_create(provider_id=2, defaults={"name": "B"})
    return Match.objects.create(
        provider_id=n,
        competition=competition,
        home_team=team_a,
        away_team=team_b,
        utc_date=timezone.now() - ago,
        status=status,
        full_time_home=home if status == "FINISHED" else None,
        full_time_away=away if status == "FINISHED" else None,
        **extra,
    )


def _ticket(*legs, stake="10.00") -> Ticket:
    return services.ticket_place(
        stake=D(stake),
        selections=[SelectionInput(match_id=m.pk, pick=p, odds=D(o)) for m, p, o in legs],
    )


def test_settle_pays_winners_voids_postponed_and_waits_for_open_legs():
    won = _ticket((_match(), "1", "2.50"))
    lost = _ticket((_match(), "2", "2.50"))
    void = _ticket((_match("POSTPONED"), "1", "2.50"))
    waiting = _ticket((_match(), "1", "2.00"), (_match("TIMED"), "1", "2.00"))
    ids = [won.pk, lost.pk, void.pk, waiting.pk]

    summary = services.tickets_settle(ticket_ids=ids)

    assert (summary.settled, summary.waiting, summary.paid) == (3, 1, D("35.00"))
    statuses = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {won.pk: "won", lost.pk: "lost", void.pk: "void", waiting.pk: "open"}
    assert Ticket.objects.get(pk=won.pk).payout == D("25.00")
    assert set(Selection.objects.filter(ticket=void).values_list("result", flat=True)) == {"void"}
    assert Payout.objects.count() == 2  # the lost ticket owes nothing


def test_a_postponed_match_waits_for_its_grace_period_then_voids(settings):
    # Given a ticket on a match postponed a day after kick-off, with 48 hours' grace
    settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS = 48
    match = _match("POSTPONED", ago=timedelta(days=1))
    ticket = _ticket((match, "1", "2.50"))
    # When settlement runs within the grace period / Then the ticket waits
    assert services.tickets_settle(ticket_ids=[ticket.pk]).waiting == 1
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN
    # When the grace period has passed (here: made shorter) / Then the leg is void, stake back
    settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS = 12
    assert services.tickets_settle(ticket_ids=[ticket.pk]).settled == 1
    ticket.refresh_from_db()
    assert (ticket.status, ticket.payout) == (TicketStatus.VOID, D("10.00"))


def test_a_postponed_match_rescheduled_under_the_same_id_stays_open():
    # Given a ticket on a match the sample reports postponed (its original date long past)
    payload = load_sample("fd_v4_team_65_matches_mixed_status.json")
    services.matches_upsert(payload=payload)
    match = Match.objects.get(provider_id=436118, status="POSTPONED")
    ticket = _ticket((match, "1", "2.00"))
    # When the provider reschedules it under the same id
    row = next(m for m in payload["matches"] if m["id"] == 436118)
    new_date = timezone.now() + timedelta(days=10)
    row["status"], row["utcDate"] = "TIMED", new_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    services.matches_upsert(payload={"matches": [row]})
    # Then the ticket is not settleable and stays open, on the new date
    match.refresh_from_db()
    assert (match.status, match.utc_date.date()) == ("TIMED", new_date.date())
    assert ticket.pk not in selectors.ticket_ids_settleable()
    assert services.tickets_settle(ticket_ids=[ticket.pk]).waiting == 1


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        # 1-1 after 90 minutes, 2-1 after extra time: the draw wins
        (
            {
                "duration": "EXTRA_TIME",
                "fullTime": {"home": 2, "away": 1},
                "regularTime": {"home": 1, "away": 1},
                "extraTime": {"home": 1, "away": 0},
            },
            "won",
        ),
        # regularTime missing: fullTime minus extraTime
        (
            {
                "duration": "EXTRA_TIME",
                "fullTime": {"home": 2, "away": 1},
                "extraTime": {"home": 1, "away": 0},
            },
            "won",
        ),
        # extra time, fullTime only: the 90-minute score is unknown, the ticket waits
        ({"duration": "EXTRA_TIME", "fullTime": {"home": 2, "away": 1}}, "open"),
        ({"duration": "REGULAR", "fullTime": {"home": 2, "away": 1}}, "lost"),
    ],
)
def test_the_duration_is_stored_and_decides_how_the_draw_settles(score, expected):
    # Given a finished match as football-data reports it, and a draw on it
    payload = load_sample("fd_v4_team_65_matches_mixed_status.json")
    row = {**payload["matches"][0], "status": "FINISHED", "score": score}
    services.matches_upsert(payload={"matches": [row]})
    match = Match.objects.get(provider_id=row["id"])
    assert match.duration == score["duration"]
    ticket = _ticket((match, "X", "3.00"))
    # When it is settled / Then
    services.tickets_settle(ticket_ids=[ticket.pk])
    assert Ticket.objects.get(pk=ticket.pk).status == expected


def test_an_interrupted_sync_stores_what_it_fetched_and_names_the_rest(standin):
    # Given a provider that allows one request a minute (the second gets its real 429)
    standin.requests_per_minute = 1
    client = FootballDataClient(base_url=standin.url, token="t", limiter=None)
    # When a sync of three competitions runs / Then it stops at the second, keeping the first's
    with pytest.raises(services.SyncRateLimited) as caught:
        services.results_sync(days=30, competitions=["PL", "FAC", "XX"], client=client)
    assert caught.value.remaining == ["FAC", "XX"]
    assert 0 < caught.value.retry_after <= 60
    assert caught.value.written == Match.objects.count() > 0
    assert set(Match.objects.values_list("competition__code", flat=True)) == {"PL"}
    # And running it again, for the rest or for everything, only upserts by provider id
    standin.requests_per_minute = 0  # no limit
    services.results_sync(days=30, competitions=["FAC"], client=client)
    after_retry = list(Match.objects.order_by("provider_id").values_list("provider_id", "status"))
    services.results_sync(days=30, competitions=["PL", "FAC"], client=client)
    assert list(
        Match.objects.order_by("provider_id").values_list("provider_id", "status")
    ) == after_retry  # fmt: skip
    assert set(Match.objects.values_list("competition__code", flat=True)) == {"PL", "FAC"}


def test_settling_twice_changes_nothing_and_never_pays_twice():
    ticket = _ticket((_match(), "1", "3.00"))
    counted = REGISTRY.get_sample_value("football_data_settled_tickets_total") or 0
    services.tickets_settle(ticket_ids=[ticket.pk])
    before = Ticket.objects.values().get(pk=ticket.pk)

    again = services.tickets_settle(ticket_ids=[ticket.pk])

    assert (again.settled, again.paid) == (0, 0)
    # the ticket counted once (football_data_settled_tickets_total)
    assert REGISTRY.get_sample_value("football_data_settled_tickets_total") == counted + 1
    assert Ticket.objects.values().get(pk=ticket.pk) == before
    assert Payout.objects.filter(ticket=ticket).count() == 1


def test_a_claim_is_taken_once_and_dropped_by_the_chunk_that_looks_at_the_ticket():
    # Given a settleable ticket and one still waiting for a leg
    ready = _ticket((_match(), "1", "3.00"))
    waiting = _ticket((_match(), "1", "2.00"), (_match("TIMED"), "1", "2.00"))
    # When settlement is fanned out twice / Then only the first claims the settleable one
    assert services.tickets_claim_settleable(limit=100) == [ready.pk]
    assert services.tickets_claim_settleable(limit=100) == []
    assert Ticket.objects.get(pk=waiting.pk).settle_queued_at is None
    # When the chunk looks at both / Then neither is claimed any more, settled or waiting
    Ticket.objects.filter(pk=waiting.pk).update(settle_queued_at=timezone.now())
    services.tickets_settle(ticket_ids=[ready.pk, waiting.pk])
    assert list(Ticket.objects.values_list("settle_queued_at", flat=True)) == [None, None]


def test_only_overdue_claims_on_open_tickets_are_claimed_again():
    # Given three claimed tickets: one an hour ago, one just now, one already settled
    lost, fresh, done = (_ticket((_match(), "1", "3.00")) for _ in range(3))
    services.tickets_claim_settleable(limit=100)
    services.tickets_settle(ticket_ids=[done.pk])
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Ticket.objects.filter(pk__in=[lost.pk, done.pk]).update(settle_queued_at=an_hour_ago)
    cutoff = timezone.now() - timedelta(seconds=10)
    # When the overdue ones are looked up and claimed again
    overdue = selectors.ticket_ids_settle_overdue(queued_before=cutoff, limit=100)
    # Then only the open one whose claim is old comes back, once
    assert overdue == [lost.pk]
    assert Ticket.objects.get(pk=fresh.pk).settle_queued_at is not None
    assert services.tickets_claim_overdue(ticket_ids=overdue, queued_before=cutoff) == [lost.pk]
    assert services.tickets_claim_overdue(ticket_ids=overdue, queued_before=cutoff) == []
    assert selectors.ticket_ids_settle_overdue(queued_before=cutoff, limit=100) == []


def _mixed_tickets() -> list[Ticket]:
    """Won (each paying a different amount), lost, void, part-void and waiting tickets."""
    tickets = [
        _ticket((_match(), "1", f"{1.01 + n / 7:.2f}"), stake=f"{n + 1}.35") for n in range(9)
    ]
    tickets += [
        _ticket((_match(), "2", "2.50")),
        _ticket((_match("CANCELLED"), "1", "2.50"), (_match("POSTPONED"), "X", "3.10")),
        _ticket((_match(), "1", "1.91"), (_match("AWARDED"), "2", "4.00"), stake="3.33"),
        _ticket((_match(), "1", "2.00"), (_match("TIMED"), "1", "2.00")),
    ]
    return tickets


def _settled_state(tickets: list[Ticket]) -> tuple[object, ...]:
    ids = [t.pk for t in tickets]
    return (
        list(
            Ticket.objects.filter(pk__in=ids)
            .order_by("pk")
            .values_list("status", "payout", "settled_at", "settle_queued_at")
        ),
        list(
            Selection.objects.filter(ticket__in=ids).order_by("pk").values_list("result", flat=True)
        ),
        list(Payout.objects.order_by("ticket_id").values_list("ticket_id", "amount")),
    )


def test_a_chunk_writes_what_the_rules_say_in_a_fixed_number_of_statements(
    django_assert_max_num_queries,
):
    # Given claimed tickets of every kind, each won one paying a different amount
    tickets = _mixed_tickets()
    Ticket.objects.update(settle_queued_at=timezone.now())
    ids = [t.pk for t in tickets]
    # When the chunk settles them / Then the writes do not grow with the chunk: a savepoint, lock
    # and read (2), the waiting claims and the settled tickets (2), selections (one UPDATE per
    # outcome: 3), payouts (1), release
    with django_assert_max_num_queries(10):
        summary = services.tickets_settle(ticket_ids=ids)
    # And every payout is the one the pure rules compute, to the cent
    expected = {}
    for ticket in tickets:
        result = settlement.ticket_result(
            stake=ticket.stake,
            legs=[
                settlement.Leg(pick=s.pick, odds=s.odds, score=_score(s.match))
                for s in ticket.selections.select_related("match")
            ],
            now=timezone.now(),
        )
        # (a waiting ticket's legs stay open until it settles)
        legs = [o.value for o in result.legs] if result.payout is not None else ["open"] * 2
        expected[ticket.pk] = (result.status.value, result.payout, legs)
    rows = Ticket.objects.in_bulk(ids)
    for pk, (status, payout, legs) in expected.items():
        assert (rows[pk].status, rows[pk].payout) == (status, payout)
        results = Selection.objects.filter(ticket_id=pk).order_by("pk")
        assert list(results.values_list("result", flat=True)) == legs
    paying = {pk: p for pk, (_, p, _) in expected.items() if p}
    assert dict(Payout.objects.values_list("ticket_id", "amount")) == paying
    assert summary.paid == sum(paying.values())
    assert (summary.settled, summary.waiting) == (len(ids) - 1, 1)
    assert not Ticket.objects.filter(settle_queued_at__isnull=False).exists()
    assert Ticket.objects.exclude(status="open").filter(settled_at__isnull=True).count() == 0


def test_the_portable_write_and_small_batches_give_the_same_results(monkeypatch):
    # Given the same tickets settled three ways: UPDATE … FROM (VALUES …), Django's bulk_update
    # (databases without UPDATE … FROM), and batches of two rows
    def settle(**patches: object) -> tuple[object, ...]:
        with transaction.atomic():
            tickets = _mixed_tickets()
            with monkeypatch.context() as patched:
                for name, value in patches.items():
                    patched.setattr(tickets_module, name, value)
                services.tickets_settle(ticket_ids=[t.pk for t in tickets])
            state = _settled_state(tickets)
            # settled_at differs from run to run; compare whether it is set
            state = (
                [(s, p, at is not None, q) for s, p, at, q in state[0]],  # type: ignore[attr-defined]
                state[1],
                [amount for _, amount in state[2]],  # type: ignore[attr-defined]
            )
            transaction.set_rollback(True)
        return state

    # When / Then every way writes the same statuses, payouts, results and claims
    values = settle()
    assert settle(_update_from_values_supported=lambda connection: False) == values
    assert settle(WRITE_BATCH=2) == values


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    legs=st.lists(
        st.tuples(
            st.sampled_from(["FINISHED", "POSTPONED", "CANCELLED", "TIMED"]),
            st.integers(0, 4),
            st.integers(0, 4),
            st.sampled_from(["1", "X", "2"]),
            st.decimals(min_value=D("1.01"), max_value=D("20"), places=2),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_settlement_is_idempotent_property(legs):
    with transaction.atomic():
        ticket = _ticket(*((_match(s, h, a), p, o) for s, h, a, p, o in legs))
        first = services.tickets_settle(ticket_ids=[ticket.pk])
        state = Ticket.objects.values("status", "payout", "settled_at").get(pk=ticket.pk)
        second = services.tickets_settle(ticket_ids=[ticket.pk])
        assert second.settled == 0
        assert second.paid == 0
        assert Ticket.objects.values("status", "payout", "settled_at").get(pk=ticket.pk) == state
        assert Payout.objects.filter(ticket=ticket).count() == (1 if first.paid else 0)
        transaction.set_rollback(True)


def test_odds_import_matches_by_kickoff_and_team_names():
    # Given our copy of the match the odds sample prices first
    event = load_sample("odds_v4_soccer_epl_h2h.json")[0]
    competition = Competition.objects.create(provider_id=2021, name="Premier League", code="PL")
    home = Team.objects.create(provider_id=338, name="Leicester City FC", short_name="Leicester")
    away = Team.objects.create(provider_id=73, name="Tottenham Hotspur FC", short_name="Tottenham")
    match = Match.objects.create(
        provider_id=1,
        competition=competition,
        home_team=home,
        away_team=away,
        utc_date=datetime(2024, 8, 19, 19, 0, tzinfo=UTC),
        status="TIMED",
    )
    # When the whole sample is imported
    written = services.odds_import(events=load_sample("odds_v4_soccer_epl_h2h.json"))
    # Then only that match is priced, with Decimal prices in 1/X/2 order
    assert written == 1
    odds = MatchOdds.objects.get(match=match)
    assert (odds.home, odds.draw, odds.away) == (D("5.0"), D("4.2"), D("1.6"))
    assert odds.bookmaker == event["bookmakers"][0]["key"]


def test_ticket_status_values_match_settlement_outcomes():
    from football_data.settlement import Outcome

    assert {o.value for o in Outcome} == {s.value for s in TicketStatus}
