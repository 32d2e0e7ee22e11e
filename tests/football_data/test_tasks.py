"""Tasks run in this process (``apply``): the integration switch and the retry policy."""

from __future__ import annotations

import pytest

from football_data.client import FootballDataAuthError
from football_data.models import Match
from football_data.tasks import settle_ticket_chunk, settle_tickets, sync_fixtures, sync_results

pytestmark = pytest.mark.django_db


def test_syncs_do_nothing_without_a_token(football_api, settings):
    settings.FOOTBALL_DATA_API_TOKEN = None
    assert sync_fixtures.apply().get() == 0
    assert sync_results.apply().get() == 0
    assert football_api.requests == []


def test_a_429_retries_after_the_wait_the_provider_asked_for(football_api, caplog):
    # Given a 429 asking for one second / When the sync runs (eagerly: retries run inline)
    football_api.fail_next(
        429, {"message": "You reached your request limit. Wait 1 seconds.", "errorCode": 429}
    )
    result = sync_fixtures.apply()
    # Then it retried once, after the wait plus a second, and then succeeded
    assert result.state == "SUCCESS"
    assert [r.status for r in football_api.requests] == [429, 200]
    assert "Retry in 2s" in caplog.text


def test_a_server_error_is_retried(football_api):
    football_api.fail_next(503)
    assert sync_fixtures.apply().state == "SUCCESS"
    assert [r.status for r in football_api.requests] == [503, 200]


def test_an_auth_error_is_not_retried(football_api):
    football_api.fail_next(403)
    result = sync_fixtures.apply()
    assert result.state == "FAILURE"
    assert isinstance(result.result, FootballDataAuthError)


def test_sync_results_stores_matches(football_api):
    assert sync_results.apply(kwargs={"settle": False}).get() > 0
    assert Match.objects.filter(status="FINISHED").exists()


def test_tasks_have_soft_and_hard_time_limits():
    for task in (sync_fixtures, sync_results, settle_tickets, settle_ticket_chunk):
        soft, hard = task.soft_time_limit, task.time_limit
        assert soft is not None
        assert hard is not None
        assert 0 < soft < hard
