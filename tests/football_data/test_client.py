"""The client against the stand-in: auth header, typed errors, 429 handling, shared limiter."""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests
from prometheus_client import REGISTRY

from football_data.client import (
    FootballDataAuthError,
    FootballDataClient,
    FootballDataError,
    FootballDataRateLimited,
    FootballDataTransientError,
    football_data_client,
    retry_after_seconds,
    shared_limiter,
)

DATE_FROM, DATE_TO = date(2026, 11, 1), date(2026, 11, 8)


def _client(standin, **kwargs) -> FootballDataClient:
    return FootballDataClient(base_url=standin.url, token="t", limiter=None, **kwargs)


def test_sends_the_token_and_returns_the_payload(standin):
    body = _client(standin).competition_matches("PL", date_from=DATE_FROM, date_to=DATE_TO)
    assert body["competition"]["code"] == "PL"
    assert body["filters"] == {"dateFrom": "2026-11-01", "dateTo": "2026-11-08"}
    assert standin.requests[0].headers["x-auth-token"] == "t"


def test_missing_token_is_an_auth_error(standin):
    client = FootballDataClient(base_url=standin.url, token=None, limiter=None)
    with pytest.raises(FootballDataAuthError):
        client.competition_matches("PL", date_from=DATE_FROM, date_to=DATE_TO)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, FootballDataTransientError),
        (503, FootballDataTransientError),
        (404, FootballDataError),
    ],
)
def test_http_errors_are_typed(standin, status, error):
    standin.fail_next(status)
    with pytest.raises(error) as caught:
        _client(standin).competition_matches("PL", date_from=DATE_FROM, date_to=DATE_TO)
    if status == 404:
        assert not isinstance(caught.value, FootballDataTransientError)


def test_connection_refused_is_transient(standin):
    client = FootballDataClient(base_url="http://127.0.0.1:9/v4", token="t", limiter=None)
    with pytest.raises(FootballDataTransientError):
        client.get("/matches")


def test_timeout_is_transient(standin):
    standin.latency = 1.0
    with pytest.raises(FootballDataTransientError):
        _client(standin, timeout=(1, 0.2)).get("/matches")


def test_429_wait_is_read_from_the_body_then_the_header(standin):
    standin.fail_next(
        429,
        {"message": "You reached your request limit. Wait 48 seconds.", "errorCode": 429},
        {"X-RequestCounter-Reset": "30"},
    )
    standin.fail_next(
        429, {"message": "Too many", "errorCode": 429}, {"X-RequestCounter-Reset": "7"}
    )
    client = _client(standin)
    for expected in (48, 7):
        with pytest.raises(FootballDataRateLimited) as caught:
            client.get("/matches")
        assert caught.value.retry_after == expected


def test_retry_after_default_without_hints():
    response = requests.Response()
    response.status_code = 429
    response._content = b"not json"
    assert retry_after_seconds(response, default=60) == 60


def test_a_429_blocks_every_client_sharing_the_limiter(football_api):
    # Given two clients (two processes, say) on the shared limiter, and a 429 for the first
    football_api.fail_next(
        429, {"message": "You reached your request limit. Wait 30 seconds.", "errorCode": 429}
    )
    first, second = football_data_client(), football_data_client()
    second.max_wait = 0
    started = time.monotonic()
    with pytest.raises(FootballDataRateLimited):
        first.get("/matches")
    # When the other one asks / Then it is held back without reaching the API
    with pytest.raises(FootballDataRateLimited) as caught:
        second.get("/matches")
    # for what is left of the 30 s block: no more, and no less than 30 s minus the time these
    # two calls took, however long a loaded machine stalled them (10 ms for rounding to ms)
    elapsed = time.monotonic() - started
    assert 30 - elapsed - 0.01 <= caught.value.retry_after <= 30
    assert len(football_api.requests) == 1


def test_the_standin_enforces_its_own_limit_with_the_real_body(standin):
    standin.requests_per_minute = 2
    client = _client(standin)
    client.get("/matches")
    client.get("/matches")
    with pytest.raises(FootballDataRateLimited) as caught:
        client.get("/matches")
    assert 55 <= caught.value.retry_after <= 60


def test_the_client_keeps_to_the_plan_and_never_sees_a_429(football_api, settings):
    # Given a stand-in enforcing 3 per 2 s and a client limited to the same plan
    football_api.requests_per_minute = 3
    football_api.window = 2.0
    client = football_data_client()
    client.limiter = shared_limiter()
    client.limiter.limit, client.limiter.window_ms = 3, 2000
    client.max_wait = 5
    # When it makes more requests than one window allows
    started = time.monotonic()
    for _ in range(7):
        client.get("/matches")
    # Then it waited for slots instead of being refused
    assert all(r.status == 200 for r in football_api.requests)
    assert time.monotonic() - started >= 4.0


def _requests_counted(status: str) -> float:
    return REGISTRY.get_sample_value("football_data_api_requests_total", {"status": status}) or 0


def test_every_request_is_counted_by_status_and_every_limiter_wait_observed(football_api):
    # Given the API answering, then refusing with a 429, then not answering at all
    ok, refused, error = (_requests_counted(s) for s in ("200", "429", "error"))
    waits = REGISTRY.get_sample_value("football_data_limiter_wait_seconds_count") or 0
    client = football_data_client()
    client.get("/matches")
    football_api.fail_next(429, {"message": "Too many", "errorCode": 429})
    with pytest.raises(FootballDataRateLimited):
        client.get("/matches")
    with pytest.raises(FootballDataTransientError):
        FootballDataClient(base_url="http://127.0.0.1:9/v4", token="t", limiter=None).get("/m")
    # Then each is counted under its status, and each pass through the limiter observed once
    assert [_requests_counted(s) for s in ("200", "429", "error")] == [
        ok + 1,
        refused + 1,
        error + 1,
    ]
    assert REGISTRY.get_sample_value("football_data_limiter_wait_seconds_count") == waits + 2
