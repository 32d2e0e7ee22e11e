"""The football-data.org stand-in: shapes like the real API, its limit, its recording."""

from __future__ import annotations

from datetime import UTC, date, datetime

import requests

from devstack.standins.football_data import FootballDataStandin, matches_between

NOW = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
HEADERS = {"X-Auth-Token": "t"}


def test_generated_matches_are_shaped_like_the_samples_and_relative_to_now():
    matches = matches_between(["PL", "FAC"], date(2026, 11, 1), date(2026, 11, 30), NOW)
    statuses = {m["status"] for m in matches}
    assert {"FINISHED", "TIMED"} <= statuses
    for match in matches:
        kickoff = datetime.fromisoformat(match["utcDate"].replace("Z", "+00:00"))
        assert set(match) >= {"id", "utcDate", "status", "homeTeam", "awayTeam", "score"}
        assert match["homeTeam"]["id"] != match["awayTeam"]["id"]
        if match["status"] == "FINISHED":
            assert kickoff < NOW
            assert match["score"]["fullTime"]["home"] is not None
        if match["status"] in ("TIMED", "SCHEDULED"):
            assert kickoff > NOW
            assert match["score"]["fullTime"] == {"home": None, "away": None}
    durations = {m["score"]["duration"] for m in matches if m["competition"]["code"] == "FAC"}
    assert "PENALTY_SHOOTOUT" in durations or "EXTRA_TIME" in durations


def test_the_same_day_gives_the_same_matches():
    first = matches_between(["PL"], date(2026, 11, 1), date(2026, 11, 7), NOW)
    assert first == matches_between(["PL"], date(2026, 11, 1), date(2026, 11, 7), NOW)


def test_serves_the_recorded_samples():
    with FootballDataStandin() as api:
        response = requests.get(
            f"{api.url}/samples/fd_v4_team_65_matches_mixed_status.json", headers=HEADERS, timeout=5
        )
        missing = requests.get(f"{api.url}/samples/nope.json", headers=HEADERS, timeout=5)
    assert response.json()["resultSet"]["count"] == 46
    assert missing.status_code == 404


def test_limit_answers_429_with_the_real_body_and_headers():
    with FootballDataStandin(requests_per_minute=1) as api:
        ok = requests.get(f"{api.url}/matches", headers=HEADERS, timeout=5)
        limited = requests.get(f"{api.url}/matches", headers=HEADERS, timeout=5)
    assert ok.headers["X-Requests-Available-Minute"] == "0"
    assert limited.status_code == 429
    assert limited.json()["message"].startswith("You reached your request limit. Wait ")
    assert limited.headers["X-RequestCounter-Reset"].isdigit()
    assert [r.status for r in api.requests] == [200, 429]


def test_latency_is_added():
    with FootballDataStandin(latency=0.3) as api:
        response = requests.get(f"{api.url}/competitions/PL/matches", headers=HEADERS, timeout=5)
    assert response.elapsed.total_seconds() >= 0.3
