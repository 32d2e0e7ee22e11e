"""The football-data.org stand-in: shapes like the real API, its limit, its recording."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime

import requests

from devstack.redis_server import free_port
from devstack.standins.football_data import (
    MATCH_LENGTH,
    FootballDataStandin,
    main,
    matches_between,
    matches_payload,
)
from tests.scratch import REPO_DIR
from tests.stack import wait_until

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


def test_the_process_takes_its_moment_from_now():
    # Given the stand-in started as a process with its calendar pinned to a year end
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.standins.football_data", "--host=127.0.0.1",
         f"--port={port}", "--latency=0", "--now=2026-12-31T23:50:00Z"],
        cwd=REPO_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v4/matches"
        wait_until(lambda: _answers(url), timeout=15)
        # When it is asked for its default window (today and the 10 days after)
        body = requests.get(url, headers=HEADERS, timeout=5).json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    # Then "today" is the pinned one, and matches are decided against that moment
    assert body["resultSet"]["first"] == "2026-12-31"
    pinned = datetime(2026, 12, 31, 23, 50, tzinfo=UTC)
    kickoffs = {m["id"]: datetime.fromisoformat(m["utcDate"]) for m in body["matches"]}
    assert any(kickoff.year == 2027 for kickoff in kickoffs.values())
    for match in body["matches"]:
        if match["status"] != "POSTPONED":
            finished = kickoffs[match["id"]] + MATCH_LENGTH <= pinned
            assert (match["status"] == "FINISHED") == finished, match


def test_a_moment_without_a_time_zone_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "devstack.standins.football_data", "--now=2026-12-31T23:50:00"],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs a time zone" in result.stderr


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers=HEADERS, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_print_matches_writes_the_matches_around_now_and_serves_nothing(capsys):
    # When the stand-in is asked for its matches around a pinned moment
    assert main(["--print-matches", f"--now={NOW.isoformat()}"]) == 0
    # Then it prints the 14 days either side of it as /v4/matches answers, and exits
    matches = json.loads(capsys.readouterr().out)["matches"]
    assert matches == matches_payload(days_back=14, days_ahead=14, now=NOW)["matches"]
    days = {date.fromisoformat(m["utcDate"][:10]) for m in matches}
    assert min(days) >= date(2026, 11, 7)
    assert max(days) <= date(2026, 12, 5)
    assert {"FINISHED", "TIMED"} <= {m["status"] for m in matches}
