"""Admin pages render and keep settled tickets and payouts read-only; the management commands
seed and sync."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from devstack.standins.football_data import matches_payload
from football_data import services
from football_data.models import Competition, Match, Payout, Selection, Team, Ticket
from football_data.services import SelectionInput

pytestmark = pytest.mark.django_db

MODELS = ["competition", "team", "match", "ticket", "payout"]


@pytest.fixture
def demo_matches(tmp_path: Path) -> str:
    """The stand-in's matches around today, as the file ``--matches`` reads."""
    path = tmp_path / "matches.json"
    path.write_text(json.dumps(matches_payload(days_back=14, days_ahead=14)))
    return str(path)


@pytest.mark.parametrize("model", MODELS)
def test_admin_changelist_renders(admin_client, model, demo_matches):
    call_command("football_data_demo", tickets=5, matches=demo_matches)
    response = admin_client.get(reverse(f"admin:football_data_{model}_changelist"))
    assert response.status_code == 200


def test_admin_ticket_page_shows_its_selections(admin_client, demo_matches):
    call_command("football_data_demo", tickets=1, matches=demo_matches)
    ticket = Ticket.objects.get()
    response = admin_client.get(reverse("admin:football_data_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    assert b"Selections" in response.content


def test_demo_seeds_matches_and_tickets(capsys, demo_matches):
    call_command("football_data_demo", tickets=20, matches=demo_matches)
    assert Match.objects.filter(status="FINISHED").exists()
    assert Match.objects.filter(status="TIMED").exists()
    assert Ticket.objects.count() == 20
    assert "20 tickets" in capsys.readouterr().out


def test_demo_reads_the_matches_from_stdin(monkeypatch, demo_matches):
    # Given the stand-in's printout piped in (make demo)
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(demo_matches).read_text()))
    # When the demo reads "-" / Then it stores those matches and opens tickets on them
    call_command("football_data_demo", tickets=3, matches="-")
    assert Match.objects.count() == len(json.loads(Path(demo_matches).read_text())["matches"])
    assert Ticket.objects.count() == 3


def test_demo_without_matches_opens_tickets_on_those_already_stored(demo_matches):
    call_command("football_data_demo", tickets=0, matches=demo_matches)
    call_command("football_data_demo", tickets=4)
    assert Ticket.objects.count() == 4


def test_demo_says_when_there_is_nothing_to_open_tickets_on(capsys):
    call_command("football_data_demo", tickets=4)
    out, err = capsys.readouterr()
    assert "Seeded 0 matches and 0 tickets." in out
    assert "No matches to open tickets on" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "Expecting value"), ('{"errors": []}', "not a matches response")],
)
def test_demo_refuses_what_is_not_a_matches_response(tmp_path, text, message):
    path = tmp_path / "matches.json"
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        call_command("football_data_demo", matches=str(path))
    assert not Match.objects.exists()


def test_sync_commands_against_the_standin(football_api, capsys):
    call_command("football_data_sync", "fixtures")
    call_command("football_data_sync", "results", days=5)
    call_command("football_data_sync", "settle")
    out = capsys.readouterr().out
    assert "fixtures: " in out
    assert "results: " in out
    assert len(football_api.requests) == 2


def _ticket_on_finished_match(*, settle: bool) -> Ticket:
    competition = Competition.objects.create(provider_id=1, name="Test")
    home = Team.objects.create(provider_id=1, name="A")
    away = Team.objects.create(provider_id=2, name="B")
    match = Match.objects.create(
        provider_id=1, competition=competition, home_team=home, away_team=away,
        utc_date=timezone.now() - timedelta(days=1), status="FINISHED",
        full_time_home=2, full_time_away=1,
    )  # fmt: skip
    ticket = services.ticket_place(
        stake=Decimal(10), selections=[SelectionInput(match_id=match.pk, pick="1", odds=Decimal(2))]
    )
    if settle:
        services.tickets_settle(ticket_ids=[ticket.pk])
        ticket.refresh_from_db()
    return ticket


def test_a_settled_tickets_selections_cannot_be_edited_in_the_admin(admin_client):
    # Given a ticket settled as won, paying 20.00
    ticket = _ticket_on_finished_match(settle=True)
    selection = ticket.selections.get()
    url = reverse("admin:football_data_ticket_change", args=[ticket.pk])
    # Then its page shows the selections without add, change or delete
    page = admin_client.get(url)
    [selections] = page.context["inline_admin_formsets"]
    assert selections.has_view_permission
    assert not selections.has_add_permission
    assert not selections.has_change_permission
    assert not selections.has_delete_permission
    # And a forged POST changing the pick and the odds changes nothing
    admin_client.post(url, {
        "reference": "", "stake": "10.00",
        "selections-TOTAL_FORMS": "1", "selections-INITIAL_FORMS": "1",
        "selections-MIN_NUM_FORMS": "0", "selections-MAX_NUM_FORMS": "1000",
        "selections-0-id": selection.pk, "selections-0-ticket": ticket.pk,
        "selections-0-match": selection.match_id, "selections-0-pick": "2",
        "selections-0-odds": "99.000", "selections-0-DELETE": "on",
    })  # fmt: skip
    assert Selection.objects.values("pick", "odds", "result").get(pk=selection.pk) == {
        "pick": "1", "odds": Decimal("2.000"), "result": "won"
    }  # fmt: skip
    assert Ticket.objects.values_list("stake", "payout").get(pk=ticket.pk) == (10, 20)


def test_an_open_tickets_selections_stay_editable_in_the_admin(admin_client):
    ticket = _ticket_on_finished_match(settle=False)
    page = admin_client.get(reverse("admin:football_data_ticket_change", args=[ticket.pk]))
    [selections] = page.context["inline_admin_formsets"]
    assert selections.has_change_permission
    assert selections.has_add_permission


def test_payouts_cannot_be_added_changed_or_deleted_in_the_admin(admin_client):
    payout = _ticket_on_finished_match(settle=True).payout_record
    change = reverse("admin:football_data_payout_change", args=[payout.pk])
    assert admin_client.get(reverse("admin:football_data_payout_add")).status_code == 403
    assert admin_client.get(change).status_code == 200  # viewable
    forged = {"ticket": payout.ticket_id, "amount": "999.00"}
    assert admin_client.post(change, forged).status_code == 403
    delete = reverse("admin:football_data_payout_delete", args=[payout.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Payout.objects.values_list("amount", flat=True).get(pk=payout.pk) == Decimal("20.00")


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("fixtures",), {"days": 0}, "--days must be at least 1, got 0"),
        (("results",), {"days": -3}, "--days must be at least 1, got -3"),
        (("settle",), {"days": 2}, "--days applies to fixtures and results, not settle"),
    ],
)
def test_sync_command_refuses_bad_days(args, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("football_data_sync", *args, **options)


def test_demo_refuses_a_negative_ticket_count():
    with pytest.raises(CommandError, match="--tickets must be 0 or more, got -1"):
        call_command("football_data_demo", tickets=-1)
    assert not Ticket.objects.exists()
