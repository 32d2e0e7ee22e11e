"""Admin pages render; the management commands seed and sync."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from football_data.models import Match, Ticket

pytestmark = pytest.mark.django_db

MODELS = ["competition", "team", "match", "ticket", "payout"]


@pytest.mark.parametrize("model", MODELS)
def test_admin_changelist_renders(admin_client, model):
    call_command("football_data_demo", tickets=5)
    response = admin_client.get(reverse(f"admin:football_data_{model}_changelist"))
    assert response.status_code == 200


def test_admin_ticket_page_shows_its_selections(admin_client):
    call_command("football_data_demo", tickets=1)
    ticket = Ticket.objects.get()
    response = admin_client.get(reverse("admin:football_data_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    assert b"Selections" in response.content


def test_demo_seeds_matches_and_tickets(capsys):
    call_command("football_data_demo", tickets=20)
    assert Match.objects.filter(status="FINISHED").exists()
    assert Match.objects.filter(status="TIMED").exists()
    assert Ticket.objects.count() == 20
    assert "20 tickets" in capsys.readouterr().out


def test_sync_commands_against_the_standin(football_api, capsys):
    call_command("football_data_sync", "fixtures")
    call_command("football_data_sync", "results", days=5)
    call_command("football_data_sync", "settle")
    out = capsys.readouterr().out
    assert "fixtures: " in out
    assert "results: " in out
    assert len(football_api.requests) == 2
