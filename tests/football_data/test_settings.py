"""The football_data app's settings: each variable ``football_data.settings`` reads, set wrong,
stops start-up naming it (tests/startup.py); all set right, the project starts; each is
documented in the app's env.example."""

from __future__ import annotations

from tests.startup import BACKEND, case, startup_tests

BAD = [
    case("FOOTBALL_DATA_API_URL", "ftp://api.football-data.org", "FOOTBALL_DATA_API_URL must be"),
    case("FOOTBALL_DATA_API_TOKEN", "abc def", "FOOTBALL_DATA_API_TOKEN must be a token"),
    case("FOOTBALL_DATA_REQUESTS_PER_MINUTE", "ten", "FOOTBALL_DATA_REQUESTS_PER_MINUTE must be"),
    case("FOOTBALL_DATA_COMPETITIONS", "PL;CL", "FOOTBALL_DATA_COMPETITIONS items must each"),
    case("FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT", "-5", "FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT must be"),
    case("FOOTBALL_DATA_FIXTURES_SYNC_SECONDS", "1", "FOOTBALL_DATA_FIXTURES_SYNC_SECONDS must"),
    case("FOOTBALL_DATA_FIXTURES_DAYS", "0", "FOOTBALL_DATA_FIXTURES_DAYS must be at least 1"),
    case("FOOTBALL_DATA_SETTLE_CHUNK_SIZE", "1e3", "FOOTBALL_DATA_SETTLE_CHUNK_SIZE must be an"),
    case(
        "FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS",
        "-1",
        "FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS must be at least",
    ),
    case("FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS", "-1", "FOOTBALL_DATA_POSTPONED_VOID_AFTER"),
]

GOOD = {
    "FOOTBALL_DATA_API_URL": "https://api.football-data.org/v4",
    "FOOTBALL_DATA_API_TOKEN": "abc123",
    "FOOTBALL_DATA_REQUESTS_PER_MINUTE": "30",
    "FOOTBALL_DATA_COMPETITIONS": "PL, CL,BL1",
    "FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT": "0",
    "FOOTBALL_DATA_FIXTURES_SYNC_SECONDS": "60",
    "FOOTBALL_DATA_FIXTURES_DAYS": "3",
    "FOOTBALL_DATA_SETTLE_CHUNK_SIZE": "100",
    "FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS": "30",
    "FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS": "0",
}

globals().update(
    startup_tests(
        BAD,
        GOOD,
        sources=[BACKEND / "football_data" / "settings.py"],
        example=BACKEND / "football_data" / "env.example",
    )
)
